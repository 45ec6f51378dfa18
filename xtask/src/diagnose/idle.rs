//! The idle layer (on request): stay idle, then query again. A connection
//! that dies here is the P1017 pattern of a `migrate dev` waiting at a prompt.

use std::time::Duration;

use super::{fail, pass, Code, Outcome};
use crate::conn::Target;
use crate::conn::{self, Session};

pub(super) fn check(mut session: Session, idle: Duration, target: &Target) -> Outcome {
    std::thread::sleep(idle);
    let secs = idle.as_secs();
    let b = session.batch("SELECT 1", target.timeout);
    match b.error {
        None => pass(format!("the connection survived {secs}s idle")),
        Some(e) => {
            let fresh = match conn::connect(target) {
                Ok(_) => "a fresh connection works",
                Err(_) => "a fresh connection fails too",
            };
            fail(Code::IdleClosed,
                format!("the connection died after {secs}s idle ({}); {fresh}", e.text()),
                "something closes idle connections: the server's idle_session_timeout, or a NAT gateway, firewall or VPN (AWS Network Firewall: 350s). This is P1017 during `migrate dev` prompts: raise the timeout, keep answering prompts promptly, or use `migrate deploy` in scripts",
            )
        }
    }
}
