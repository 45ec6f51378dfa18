//! Secrets from the user: a password piped on standard input, or typed at
//! a terminal prompt without echo. Both come back as a `Secret`.

use anyhow::Context;

use crate::flags::bad_input;
use crate::secret::Secret;

/// Reads a password from standard input (one line, newline removed).
pub fn read_password_stdin() -> anyhow::Result<Secret> {
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
        .context("cannot read the password from standard input")?;
    let p = s
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&s)
        .to_string();
    if p.is_empty() {
        return Err(bad_input("--password-stdin: standard input was empty; pipe the password in, e.g. printf '%s' \"$PW\" | cargo xtask env-fix --password-stdin"));
    }
    Ok(Secret::new(p))
}

/// Asks for a password at the terminal without echoing it.
pub fn prompt_password(prompt: &str) -> anyhow::Result<Secret> {
    crate::output::err_partial(prompt);
    #[cfg(unix)]
    let saved = {
        // SAFETY: termios calls on stdin with a zeroed struct they fill in.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) == 0 {
                let saved = t;
                t.c_lflag &= !libc::ECHO;
                libc::tcsetattr(0, libc::TCSANOW, &t);
                Some(saved)
            } else {
                None
            }
        }
    };
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    #[cfg(unix)]
    if let Some(t) = saved {
        // SAFETY: restores the settings read above.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &t);
        }
    }
    crate::output::err("");
    read.context("cannot read the password")?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    if p.is_empty() {
        anyhow::bail!("no password given");
    }
    Ok(Secret::new(p))
}
