//! Checks 1 and 2: find the instance (or cluster, or proxy) behind the URL's
//! host, compare its real endpoint with the URL, and read its status.
//! Everything later checks work from the `DbResource` found here.

use serde_json::Value;

use super::report::{Check, Code};
use super::{denied_or_error, strs};
use crate::aws::cli::{Answer, Aws, AwsError, Call};
use crate::aws::endpoint::{Endpoint, Kind};

/// What the describe calls said about the database behind the host.
#[derive(Debug, Clone, Default)]
pub struct DbResource {
    pub identifier: String,
    pub status: String,
    pub address: String,
    pub port: u16,
    /// `PubliclyAccessible`; a proxy is never reachable from outside its VPC.
    pub public: bool,
    pub security_groups: Vec<String>,
    pub subnets: Vec<String>,
    pub vpc: Option<String>,
    /// The parameter group and its apply status (`in-sync`, `pending-reboot`).
    pub param_group: Option<(String, String)>,
    /// The instance whose parameters, events and logs are read (a cluster's
    /// writer); `None` for a proxy.
    pub instance: Option<String>,
    pub is_proxy: bool,
}

/// The describe call for the endpoint's kind.
pub fn describe_call(ep: &Endpoint) -> Call {
    match ep.kind {
        Kind::Instance => Call::new(
            "rds",
            "describe-db-instances",
            &["--db-instance-identifier", &ep.identifier],
        ),
        Kind::Cluster | Kind::ClusterReader | Kind::ClusterCustom => Call::new(
            "rds",
            "describe-db-clusters",
            &["--db-cluster-identifier", &ep.identifier],
        ),
        Kind::Proxy => Call::new(
            "rds",
            "describe-db-proxies",
            &["--db-proxy-name", &ep.identifier],
        ),
    }
}

/// Check 1, endpoint, from the describe answer; a cluster's writer instance
/// is described here too (it carries the network settings).
pub fn endpoint_check(
    aws: &Aws,
    ep: &Endpoint,
    answer: Answer,
    host: &str,
    port: u16,
) -> (Check, Option<DbResource>) {
    const NAME: &str = "endpoint";
    let value = match answer.result {
        Ok(v) => v,
        Err(AwsError::Failed { code: Some(c), .. }) if c.contains("NotFound") => {
            return (not_found(aws, ep).ms(answer.ms), None);
        }
        Err(e) => return (denied_or_error(NAME, &e).ms(answer.ms), None),
    };
    let resource = match ep.kind {
        Kind::Instance => value["DBInstances"].get(0).map(instance_resource),
        Kind::Proxy => value["DBProxies"].get(0).map(proxy_resource),
        _ => value["DBClusters"]
            .get(0)
            .map(|c| cluster_resource(aws, ep, c)),
    };
    let Some(t) = resource else {
        return (not_found(aws, ep).ms(answer.ms), None);
    };
    let what = format!("{} {}", ep.kind.as_str(), ep.identifier);
    let check = if !t.address.eq_ignore_ascii_case(host.trim_end_matches('.')) || t.port != port {
        Check::fail(
            NAME,
            Code::RdsEndpointMismatch,
            format!(
                "the URL says {host}:{port}, but {what} answers at {}:{}",
                t.address, t.port
            ),
        )
        .hint(format!(
            "use host {} and port {} in DATABASE_URL (copy the endpoint from the RDS console's Connectivity tab)",
            t.address, t.port
        ))
    } else {
        Check::pass(
            NAME,
            format!("{what} in {}, {}:{}", aws.region, t.address, t.port),
        )
    };
    (check.ms(answer.ms), Some(t))
}

/// `rds_not_found`, naming what the account does have in this region.
fn not_found(aws: &Aws, ep: &Endpoint) -> Check {
    let (op, key, id_key) = match ep.kind {
        Kind::Instance => (
            "describe-db-instances",
            "DBInstances",
            "DBInstanceIdentifier",
        ),
        Kind::Proxy => ("describe-db-proxies", "DBProxies", "DBProxyName"),
        _ => ("describe-db-clusters", "DBClusters", "DBClusterIdentifier"),
    };
    let list = aws.call(&Call::new("rds", op, &[])).result.ok();
    let names: Vec<String> = list
        .as_ref()
        .and_then(|v| v[key].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|i| i[id_key].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let seen = match (list.is_some(), names.is_empty()) {
        (false, _) => String::new(),
        (true, true) => " (there are none in this region)".to_string(),
        (true, false) => format!(" (this region has: {})", names.join(", ")),
    };
    Check::fail(
        "endpoint",
        Code::RdsNotFound,
        format!(
            "no {} named {} in {} for this account{seen}",
            ep.kind.as_str(),
            ep.identifier,
            aws.region
        ),
    )
    .hint("check the host in DATABASE_URL, and the profile (--profile) and region (--region): the instance may belong to another account")
}

fn instance_resource(i: &Value) -> DbResource {
    let groups = i["DBParameterGroups"].get(0);
    DbResource {
        identifier: i["DBInstanceIdentifier"].as_str().unwrap_or("").into(),
        status: i["DBInstanceStatus"].as_str().unwrap_or("").into(),
        address: i["Endpoint"]["Address"].as_str().unwrap_or("").into(),
        port: i["Endpoint"]["Port"].as_u64().unwrap_or(0) as u16,
        public: i["PubliclyAccessible"].as_bool().unwrap_or(false),
        security_groups: strs(&i["VpcSecurityGroups"], "VpcSecurityGroupId"),
        subnets: strs(&i["DBSubnetGroup"]["Subnets"], "SubnetIdentifier"),
        vpc: i["DBSubnetGroup"]["VpcId"].as_str().map(String::from),
        param_group: groups.map(|g| {
            (
                g["DBParameterGroupName"].as_str().unwrap_or("").into(),
                g["ParameterApplyStatus"].as_str().unwrap_or("").into(),
            )
        }),
        instance: i["DBInstanceIdentifier"].as_str().map(String::from),
        is_proxy: false,
    }
}

fn proxy_resource(p: &Value) -> DbResource {
    DbResource {
        identifier: p["DBProxyName"].as_str().unwrap_or("").into(),
        status: p["Status"].as_str().unwrap_or("").into(),
        address: p["Endpoint"].as_str().unwrap_or("").into(),
        port: 5432,
        public: false,
        security_groups: str_list(&p["VpcSecurityGroupIds"]),
        subnets: str_list(&p["VpcSubnetIds"]),
        vpc: p["VpcId"].as_str().map(String::from),
        param_group: None,
        instance: None,
        is_proxy: true,
    }
}

/// A cluster's endpoint and status, with the network settings of its writer
/// (the instance a failover would replace: the same subnet group).
fn cluster_resource(aws: &Aws, ep: &Endpoint, c: &Value) -> DbResource {
    let writer = c["DBClusterMembers"]
        .as_array()
        .and_then(|m| {
            m.iter()
                .find(|x| x["IsClusterWriter"] == true)
                .or_else(|| m.first())
        })
        .and_then(|m| m["DBInstanceIdentifier"].as_str())
        .map(String::from);
    let mut t = writer
        .as_deref()
        .and_then(|w| {
            let call = Call::new(
                "rds",
                "describe-db-instances",
                &["--db-instance-identifier", w],
            );
            aws.call(&call).result.ok()
        })
        .and_then(|v| v["DBInstances"].get(0).map(instance_resource))
        .unwrap_or_default();
    let address_key = match ep.kind {
        Kind::ClusterReader => "ReaderEndpoint",
        _ => "Endpoint",
    };
    t.identifier = c["DBClusterIdentifier"].as_str().unwrap_or("").into();
    t.status = c["Status"].as_str().unwrap_or("").into();
    t.address = c[address_key].as_str().unwrap_or("").into();
    t.port = c["Port"].as_u64().unwrap_or(0) as u16;
    t.instance = writer;
    t
}

/// Check 2: is the database in a state that accepts connections?
pub fn status_check(t: &DbResource) -> Check {
    const NAME: &str = "status";
    let id = &t.identifier;
    let s = t.status.as_str();
    let fine = [
        "available",
        "backing-up",
        "storage-optimization",
        "modifying",
        "configuring-enhanced-monitoring",
        "configuring-log-exports",
        "configuring-iam-database-auth",
    ];
    if fine.contains(&s) {
        return Check::pass(NAME, format!("{s}: accepts connections"));
    }
    let wait = format!("wait until it is available: `aws rds wait db-instance-available --db-instance-identifier {id}` (read-only; it polls)");
    let (why, hint) = match s {
        "stopped" => ("stopped: it refuses every connection".to_string(), format!("start it in the RDS console or with `aws rds start-db-instance --db-instance-identifier {id}` (a stopped instance starts by itself after 7 days)")),
        "stopping" | "starting" | "rebooting" | "maintenance" | "upgrading" | "renaming"
        | "resetting-master-credentials" | "creating" | "moving-to-vpc" => {
            (format!("{s}: connections are refused or cut until it is available"), wait)
        }
        "storage-full" => ("storage-full: the database has no free storage and stops accepting writes and connections".to_string(), format!("increase the allocated storage (RDS console: Modify) or turn on storage autoscaling for {id}")),
        "incompatible-network" => ("incompatible-network: RDS cannot place the instance in its subnet group (no free IP addresses, or a subnet was removed)".into(), "free IP addresses in the subnets or fix the DB subnet group, then start the instance again; see AWS's \"incompatible-network\" troubleshooting".into()),
        "incompatible-parameters" => ("incompatible-parameters: a parameter in the group is incompatible with the instance (often a memory setting)".into(), "reset the parameter in the DB parameter group, then reboot the instance".into()),
        _ if s.starts_with("incompatible-") || s.starts_with("inaccessible-") => (format!("{s}: the instance cannot start in this state"), "see the RDS console's event log for the instance and AWS's troubleshooting page for this status".into()),
        _ => (format!("{s}: not a state that accepts connections"), wait),
    };
    Check::fail(NAME, Code::RdsNotAvailable, why).hint(hint)
}

/// A JSON array of strings (ids), empty when absent.
fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}
