//! Check 3 (the troubleshooting page's Solution 3), in the order of AWS's
//! runbook AWSSupport-TroubleshootConnectivityToRDS, but from a laptop:
//! public access, then the security groups' inbound rules for the user's
//! IP, then the subnets' network ACLs (inbound on the port, outbound to the
//! client's ephemeral ports), then each subnet's route to an internet gateway.

use std::net::IpAddr;

use serde_json::Value;

use super::report::{Check, Code};
use super::status::DbResource;
use super::{denied_or_error, MyIp};
use crate::aws::cli::Answer;

/// Client ports the OS picks (Linux 32768-60999, macOS and Windows
/// 49152-65535): replies must be allowed out to each of these.
const EPHEMERAL_PROBES: [u16; 4] = [32768, 49152, 60999, 65535];

/// `a.b.c.d/n` (or IPv6) contains `ip`.
pub fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// An address that never crosses the internet (VPN, inside the VPC).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || cidr_contains("100.64.0.0/10", ip),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// Whether the public internet path (internet gateway) matters.
fn over_internet(my_ip: Option<&MyIp>) -> bool {
    !matches!(my_ip, Some(m) if is_private(m.ip))
}

pub fn public_access(t: &DbResource, my_ip: Option<&MyIp>) -> Check {
    const NAME: &str = "public_access";
    if !over_internet(my_ip) {
        let ip = my_ip.map(|m| m.ip.to_string()).unwrap_or_default();
        return Check::pass(
            NAME,
            format!(
                "{ip} is a private address (VPN or inside the VPC), so public access is not needed"
            ),
        );
    }
    let how = "connect from inside the VPC: a VPN, a bastion host with `ssh -L 5432:ENDPOINT:5432`, or SSM port forwarding";
    if t.is_proxy {
        return Check::fail(
            NAME,
            Code::RdsNotPublic,
            "an RDS Proxy endpoint is reachable only from inside its VPC",
        )
        .hint(format!(
            "{how}; or use the instance's own endpoint if it is publicly accessible"
        ));
    }
    if !t.public {
        return Check::fail(NAME, Code::RdsNotPublic, "PubliclyAccessible is false: the endpoint resolves to a private address that the internet cannot reach")
            .hint(format!("{how}; or set Public access to Yes (RDS console: Modify, Connectivity)"));
    }
    Check::pass(
        NAME,
        "PubliclyAccessible: the endpoint resolves to a public address",
    )
}

/// One inbound rule as found, for the detail line.
struct Rules {
    for_ip: Vec<String>,
    other_cidrs: Vec<String>,
    groups: Vec<String>,
    prefix_lists: Vec<String>,
}

fn port_in(perm: &Value, port: u16) -> bool {
    let proto = perm["IpProtocol"].as_str().unwrap_or("");
    if proto == "-1" {
        return true;
    }
    let from = perm["FromPort"].as_i64().unwrap_or(-1);
    let to = perm["ToPort"].as_i64().unwrap_or(-1);
    (proto == "tcp" || proto == "6") && from <= port as i64 && port as i64 <= to
}

fn inbound_rules(groups: &Value, port: u16, ip: Option<IpAddr>) -> Rules {
    let mut r = Rules {
        for_ip: vec![],
        other_cidrs: vec![],
        groups: vec![],
        prefix_lists: vec![],
    };
    for g in groups["SecurityGroups"].as_array().into_iter().flatten() {
        let gid = g["GroupId"].as_str().unwrap_or("?");
        for p in g["IpPermissions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| port_in(p, port))
        {
            let cidrs = p["IpRanges"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x["CidrIp"].as_str())
                .chain(
                    p["Ipv6Ranges"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x["CidrIpv6"].as_str()),
                );
            for c in cidrs {
                let hit = match ip {
                    Some(ip) => cidr_contains(c, ip),
                    None => c == "0.0.0.0/0" || c == "::/0",
                };
                let label = format!("{c} ({gid})");
                if hit {
                    r.for_ip.push(label)
                } else {
                    r.other_cidrs.push(label)
                }
            }
            for pair in p["UserIdGroupPairs"].as_array().into_iter().flatten() {
                r.groups.push(format!(
                    "{} ({gid})",
                    pair["GroupId"].as_str().unwrap_or("?")
                ));
            }
            for pl in p["PrefixListIds"].as_array().into_iter().flatten() {
                r.prefix_lists.push(format!(
                    "{} ({gid})",
                    pl["PrefixListId"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    r
}

pub fn security_group(t: &DbResource, port: u16, my_ip: Option<&MyIp>, a: &Answer) -> Check {
    const NAME: &str = "security_group";
    let groups = match &a.result {
        Ok(v) => v,
        Err(e) => return denied_or_error(NAME, e).ms(a.ms),
    };
    let r = inbound_rules(groups, port, my_ip.map(|m| m.ip));
    let ids = t.security_groups.join(", ");
    if let Some(rule) = r.for_ip.first() {
        let who = my_ip
            .map(|m| format!("{} ({})", m.ip, m.source))
            .unwrap_or_else(|| "every address".into());
        return Check::pass(
            NAME,
            format!("inbound TCP {port} from {who} allowed by {rule}"),
        )
        .ms(a.ms);
    }
    let mut seen = Vec::new();
    if !r.other_cidrs.is_empty() {
        seen.push(format!("addresses {}", r.other_cidrs.join(", ")));
    }
    if !r.groups.is_empty() {
        seen.push(format!(
            "only other security groups {}",
            r.groups.join(", ")
        ));
    }
    if !r.prefix_lists.is_empty() {
        seen.push(format!("prefix lists {}", r.prefix_lists.join(", ")));
    }
    let seen = if seen.is_empty() {
        "no rule for this port at all".to_string()
    } else {
        format!("rules for port {port} allow {}", seen.join("; "))
    };
    let Some(me) = my_ip else {
        return Check::unknown(
            NAME,
            Code::MyIpUnknown,
            format!("{ids}: {seen}; cannot tell whether they cover you without your public IP"),
        )
        .hint(
            "pass --my-ip ADDR (your public IP), or --lookup-my-ip to ask a what-is-my-IP service",
        )
        .ms(a.ms);
    };
    let by_group = if r.groups.is_empty() {
        ""
    } else {
        " (a rule that references a security group admits only resources in that group, such as an EC2 instance or Lambda, never a laptop)"
    };
    Check::fail(NAME, Code::SgNoRuleForIp, format!("{ids}: no inbound rule for TCP {port} covers {} ({}); {seen}{by_group}", me.ip, me.source))
        .hint(format!("add an inbound rule to {ids}: type PostgreSQL, TCP {port}, source {}/32 (RDS console: Connectivity & security, VPC security groups, Edit inbound rules)", me.ip))
        .ms(a.ms)
}

/// The first rule (by number) that matches decides, as in AWS; `None` when
/// an earlier, narrower rule might match depending on the unknown address.
fn nacl_verdict(
    acl: &Value,
    egress: bool,
    port: u16,
    ip: Option<IpAddr>,
) -> Option<(bool, String)> {
    let mut entries: Vec<&Value> = acl["Entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["Egress"].as_bool() == Some(egress))
        .collect();
    entries.sort_by_key(|e| e["RuleNumber"].as_i64().unwrap_or(i64::MAX));
    for e in entries {
        let proto = e["Protocol"].as_str().unwrap_or("");
        let ports_ok = proto == "-1"
            || (proto == "6" && {
                let from = e["PortRange"]["From"].as_i64().unwrap_or(0);
                let to = e["PortRange"]["To"].as_i64().unwrap_or(65535);
                from <= port as i64 && port as i64 <= to
            });
        let cidr = e["CidrBlock"]
            .as_str()
            .or(e["Ipv6CidrBlock"].as_str())
            .unwrap_or("");
        if !ports_ok {
            continue;
        }
        let matches = match ip {
            Some(ip) => cidr_contains(cidr, ip),
            None if cidr.ends_with("/0") => true,
            None => return None,
        };
        if matches {
            let n = e["RuleNumber"].as_i64().unwrap_or(0);
            let allow = e["RuleAction"].as_str() == Some("allow");
            return Some((
                allow,
                format!(
                    "rule {n} {} {cidr}",
                    if allow { "allows" } else { "denies" }
                ),
            ));
        }
    }
    // Every NACL ends with an implicit deny (moto omits it on custom ones).
    Some((false, "no rule matches, so the final * rule denies".into()))
}

/// The NACL for a subnet: its explicit association, else the VPC's default.
fn acl_for<'a>(acls: &'a [Value], subnet: &str) -> Option<&'a Value> {
    acls.iter()
        .find(|a| {
            a["Associations"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| x["SubnetId"] == subnet)
        })
        .or_else(|| acls.iter().find(|a| a["IsDefault"] == true))
}

pub fn network_acl(t: &DbResource, port: u16, my_ip: Option<&MyIp>, a: &Answer) -> Check {
    const NAME: &str = "network_acl";
    let v = match &a.result {
        Ok(v) => v,
        Err(e) => return denied_or_error(NAME, e).ms(a.ms),
    };
    let acls = v["NetworkAcls"].as_array().cloned().unwrap_or_default();
    let ip = my_ip.map(|m| m.ip);
    let mut unsure = Vec::new();
    for subnet in &t.subnets {
        let Some(acl) = acl_for(&acls, subnet) else {
            continue;
        };
        let id = acl["NetworkAclId"].as_str().unwrap_or("?");
        let mut verdicts = vec![("inbound", port, nacl_verdict(acl, false, port, ip))];
        verdicts.extend(
            EPHEMERAL_PROBES
                .iter()
                .map(|&p| ("outbound", p, nacl_verdict(acl, true, p, ip))),
        );
        for (dir, p, verdict) in verdicts {
            match verdict {
                Some((false, rule)) => {
                    let whom = ip
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "any address".into());
                    let what = if dir == "inbound" {
                        format!("inbound TCP {p} from {whom}")
                    } else {
                        format!("outbound TCP to {whom} port {p} (replies to the client's ephemeral port)")
                    };
                    return Check::fail(NAME, Code::NaclDeny, format!("{id} on {subnet}: {rule}, which blocks {what}"))
                        .hint(format!("allow it in {id} with a lower-numbered rule (VPC console: Network ACLs); NACLs are stateless, so replies to ports 1024-65535 need an outbound rule too"))
                        .ms(a.ms);
                }
                None => unsure.push(format!("{id} {dir}")),
                Some((true, _)) => {}
            }
        }
    }
    if !unsure.is_empty() {
        return Check::unknown(NAME, Code::MyIpUnknown, format!("{} have rules for specific addresses; without your IP it cannot be told whether they apply", unsure.join(", ")))
            .hint("pass --my-ip ADDR or --lookup-my-ip").ms(a.ms);
    }
    Check::pass(
        NAME,
        format!(
            "inbound TCP {port} and outbound ephemeral ports allowed on {} subnet(s)",
            t.subnets.len()
        ),
    )
    .ms(a.ms)
}

/// The route table of a subnet: explicit association, else the main table.
fn table_for<'a>(tables: &'a [Value], subnet: &str) -> Option<&'a Value> {
    let assocs = |t: &&Value| t["Associations"].as_array().cloned().unwrap_or_default();
    tables
        .iter()
        .find(|t| assocs(t).iter().any(|a| a["SubnetId"] == subnet))
        .or_else(|| {
            tables
                .iter()
                .find(|t| assocs(t).iter().any(|a| a["Main"] == true))
        })
}

fn igw_route(table: &Value, ip: Option<IpAddr>) -> bool {
    table["Routes"].as_array().into_iter().flatten().any(|r| {
        let gw = r["GatewayId"].as_str().unwrap_or("");
        let dest = r["DestinationCidrBlock"]
            .as_str()
            .or(r["DestinationIpv6CidrBlock"].as_str())
            .unwrap_or("");
        let covers = match ip {
            Some(ip) => cidr_contains(dest, ip),
            None => dest.ends_with("/0"),
        };
        gw.starts_with("igw-") && r["State"].as_str() != Some("blackhole") && covers
    })
}

pub fn route_table(t: &DbResource, my_ip: Option<&MyIp>, a: &Answer) -> Check {
    const NAME: &str = "route_table";
    if !over_internet(my_ip) || !t.public {
        return Check::skip(
            NAME,
            Code::NotApplicable,
            "no internet path to check (not public, or you connect from a private address)",
        );
    }
    let v = match &a.result {
        Ok(v) => v,
        Err(e) => return denied_or_error(NAME, e).ms(a.ms),
    };
    let tables = v["RouteTables"].as_array().cloned().unwrap_or_default();
    for subnet in &t.subnets {
        let Some(table) = table_for(&tables, subnet) else {
            continue;
        };
        if !igw_route(table, my_ip.map(|m| m.ip)) {
            let id = table["RouteTableId"].as_str().unwrap_or("?");
            return Check::fail(NAME, Code::RouteNoIgw, format!("{subnet} uses {id}, which has no route to an internet gateway: a publicly accessible instance there cannot answer the internet"))
                .hint(format!("add a route 0.0.0.0/0 to the VPC's internet gateway in {id}, or remove {subnet} from the DB subnet group (every subnet in it matters: a Multi-AZ failover or a host replacement moves the instance)"))
                .ms(a.ms);
        }
    }
    Check::pass(
        NAME,
        format!(
            "all {} subnet(s) of the DB subnet group route to an internet gateway",
            t.subnets.len()
        ),
    )
    .ms(a.ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        assert!(cidr_contains("203.0.113.7/32", ip));
        assert!(cidr_contains("203.0.113.0/24", ip));
        assert!(cidr_contains("0.0.0.0/0", ip));
        assert!(!cidr_contains("203.0.113.8/32", ip));
        assert!(!cidr_contains("::/0", ip));
        assert!(cidr_contains(
            "2001:db8::/32",
            "2001:db8::1".parse().unwrap()
        ));
        assert!(is_private("10.1.2.3".parse().unwrap()));
        assert!(!is_private(ip));
    }

    #[test]
    fn first_matching_nacl_rule_decides() {
        let acl: Value = serde_json::json!({"Entries": [
            {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": false, "CidrBlock": "0.0.0.0/0"},
            {"RuleNumber": 90, "Protocol": "6", "RuleAction": "deny", "Egress": false, "CidrBlock": "198.51.100.0/24", "PortRange": {"From": 5432, "To": 5432}}
        ]});
        let denied =
            nacl_verdict(&acl, false, 5432, Some("198.51.100.9".parse().unwrap())).unwrap();
        assert_eq!(denied, (false, "rule 90 denies 198.51.100.0/24".into()));
        assert!(
            nacl_verdict(&acl, false, 5432, Some("203.0.113.7".parse().unwrap()))
                .unwrap()
                .0
        );
        assert!(
            nacl_verdict(&acl, false, 5432, None).is_none(),
            "rule 90 may or may not apply"
        );
        assert!(
            !nacl_verdict(&acl, true, 49152, None).unwrap().0,
            "no egress rule: implicit deny"
        );
    }
}
