//! The document against dotenvy itself, and edits that touch one value.

use super::tests_support::dotenvy_reads;
use super::*;

fn ours(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    Ok(Document::parse(text)?
        .loaded()
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect())
}

#[test]
fn renders_back_byte_for_byte() {
    for text in [
        "",
        "A=1",
        "A=1\n",
        "\u{feff}A=1\r\nB='two'\r\n",
        "# comment\n\nexport A=\"x y\"  # trailing\nB=  spaced   \n",
        "M=\"line one\nline two\"\nN=after",
        "S='multi\r\nline'\r\n   \r\n",
    ] {
        let doc = Document::parse(text).unwrap();
        assert_eq!(doc.render(), text, "{text:?}");
    }
}

#[test]
fn reads_like_dotenvy() {
    let text = "\u{feff}A=1\nexport B = \"x $A y\"\nC='lit $A'\nD=a#b\nE=a #b\nF=\"multi\nline\"\nG=${A}_x\nH=$A_B\nI=s\\ ix\nexport=exp\nJ=#x\nK=\"esc \\\" \\$ \\n\"\n";
    assert_eq!(ours(text).unwrap(), dotenvy_reads(text).unwrap());
}

#[test]
fn literal_keeps_dollar() {
    let doc = Document::parse("P='pa$$word'\nQ=pa$word\n").unwrap();
    assert_eq!(doc.literal(0), "pa$$word");
    assert_eq!(doc.literal(1), "pa$word");
    assert_eq!(doc.loaded()[1].1, "pa");
}

#[test]
fn substitution_quirks_match_dotenvy() {
    // dotenvy ends `$NAME` at a quote and keeps the quote as text, so a
    // double-quoted value with `$$` never closes.
    let text = "P=\"pa$$word\"\n";
    assert!(Document::parse(text).is_err());
    assert!(dotenvy_reads(text).is_err());
}

#[test]
fn errors_name_the_line() {
    for (text, line) in [
        ("A=1\nB=\"open\nC=3\n", 2),
        ("A=1\nnot a var\n", 2),
        ("A=1\n\nB=a b\n", 3),
        ("1A=x\n", 1),
        ("A=\\q\n", 1),
    ] {
        let err = Document::parse(text).unwrap_err();
        assert_eq!(err.line, line, "{text:?}: {err}");
        assert!(dotenvy_reads(text).is_err(), "dotenvy accepts {text:?}");
    }
}

#[test]
fn set_value_keeps_the_rest_of_the_line() {
    let cases = [
        (
            "export URL=\"old\"  # note\r\nX=1",
            "export URL=\"new%40\"  # note\r\nX=1",
        ),
        ("URL='old'\n", "URL='new%40'\n"),
        ("URL=old", "URL=new%40"),
        ("URL=", "URL=new%40"),
    ];
    for (before, after) in cases {
        let mut doc = Document::parse(before).unwrap();
        doc.set_value(0, "new%40");
        assert_eq!(doc.render(), after);
        assert_eq!(Document::parse(&doc.render()).unwrap().literal(0), "new%40");
    }
}

#[test]
fn set_value_quotes_only_when_needed() {
    for (style_src, value) in [
        ("A=x", "has $dollar"),
        ("A=\"x\"", "a 'q' $b \\ c"),
        ("A='x'", "it's $x"),
    ] {
        let mut doc = Document::parse(style_src).unwrap();
        doc.set_value(0, value);
        let text = doc.render();
        assert_eq!(dotenvy_reads(&text).unwrap()[0].1, value, "{text}");
    }
}

#[test]
fn append_uses_the_files_line_ending() {
    let mut doc = Document::parse("A=1\r\nB=2").unwrap();
    doc.append("URL", "postgresql://h/db");
    assert_eq!(doc.render(), "A=1\r\nB=2\r\nURL=postgresql://h/db\r\n");
    assert_eq!(doc.entries[2].line, 3);
}
