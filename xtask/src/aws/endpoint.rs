//! What an RDS host name says on its own: the identifier, the kind of
//! endpoint (instance, cluster writer or reader, proxy) and the region, so
//! the right describe call goes to the right region before any API call.

stable_names! {
    /// `ID.cluster-ro-XXXX.REGION.rds.amazonaws.com` and friends.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        Instance = "instance",
        Cluster = "cluster",
        ClusterReader = "cluster reader",
        ClusterCustom = "cluster custom endpoint",
        Proxy = "proxy",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub identifier: String,
    pub kind: Kind,
    pub region: String,
}

const SUFFIXES: [&str; 2] = [".rds.amazonaws.com", ".rds.amazonaws.com.cn"];

/// `None` for a host that is not an RDS endpoint (then rds-check skips).
pub fn parse(host: &str) -> Option<Endpoint> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let rest = SUFFIXES.iter().find_map(|s| host.strip_suffix(s))?;
    let labels: Vec<&str> = rest.split('.').collect();
    let [identifier, middle, region] = labels[..] else {
        return None;
    };
    if identifier.is_empty() || middle.is_empty() || !is_region(region) {
        return None;
    }
    // Longest prefix first: `cluster-ro-` also starts with `cluster-`.
    let kind = if middle.starts_with("cluster-ro-") {
        Kind::ClusterReader
    } else if middle.starts_with("cluster-custom-") {
        Kind::ClusterCustom
    } else if middle.starts_with("cluster-") {
        Kind::Cluster
    } else if middle.starts_with("proxy-") {
        Kind::Proxy
    } else {
        Kind::Instance
    };
    Some(Endpoint {
        identifier: identifier.to_string(),
        kind,
        region: region.to_string(),
    })
}

/// `us-east-1`, `ca-central-1`, `us-gov-west-1`, `cn-northwest-1`.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(id: &str, kind: Kind, region: &str) -> Option<Endpoint> {
        Some(Endpoint {
            identifier: id.into(),
            kind,
            region: region.into(),
        })
    }

    #[test]
    fn every_kind_and_both_partitions() {
        let cases = [
            (
                "summitly-prod.c9akciq32.us-east-1.rds.amazonaws.com",
                ep("summitly-prod", Kind::Instance, "us-east-1"),
            ),
            (
                "app.cluster-c9akciq32.eu-west-3.rds.amazonaws.com",
                ep("app", Kind::Cluster, "eu-west-3"),
            ),
            (
                "app.cluster-ro-c9akciq32.eu-west-3.rds.amazonaws.com",
                ep("app", Kind::ClusterReader, "eu-west-3"),
            ),
            (
                "rep.cluster-custom-c9akciq32.us-west-2.rds.amazonaws.com",
                ep("rep", Kind::ClusterCustom, "us-west-2"),
            ),
            (
                "pool.proxy-c9akciq32.ap-southeast-2.rds.amazonaws.com",
                ep("pool", Kind::Proxy, "ap-southeast-2"),
            ),
            (
                "Db1.ABC.cn-northwest-1.rds.amazonaws.com.cn.",
                ep("db1", Kind::Instance, "cn-northwest-1"),
            ),
            (
                "db.abc.us-gov-west-1.rds.amazonaws.com",
                ep("db", Kind::Instance, "us-gov-west-1"),
            ),
        ];
        for (host, want) in cases {
            assert_eq!(parse(host), want, "{host}");
        }
    }

    #[test]
    fn other_hosts_are_not_rds() {
        for host in [
            "localhost",
            "127.0.0.1",
            "db.example.com",
            "rds.amazonaws.com",
            "x.us-east-1.rds.amazonaws.com",
            "a.b.c.us-east-1.rds.amazonaws.com",
            "a.b.useast1.rds.amazonaws.com",
            "a.b.us-east-1.rds.amazonaws.com.evil.com",
            "pooler.supabase.com",
        ] {
            assert_eq!(parse(host), None, "{host}");
        }
    }
}
