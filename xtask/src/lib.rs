//! The xtask's core as a library: `main.rs` dispatches to `cmd`, and the
//! fuzz targets and benchmarks link the same code instead of including its
//! files. Modules in layers, checked by `tests/it/tidy.rs`: commands on top,
//! then the flows (`migrate`, `onboarding`, `diagnose`, `rds`), then the
//! adapters (`conn`, `prisma`, `aws`, `passwords`, `devdb`), then the
//! models (`pgurl`, `dotenv`, `secret`) and what is known about poolers
//! (`poolers`).

// First: the modules below use its macro.
#[macro_use]
mod names;

mod aws;
mod checklist;
pub mod cmd;
mod conn;
mod devdb;
mod diagnose;
pub mod dotenv;
mod envfile;
mod envload;
pub mod exit;
pub mod flags;
mod input;
mod migrate;
mod onboarding;
pub mod output;
mod passwords;
mod percent;
pub mod pgurl;
mod poolers;
mod prisma;
mod process;
mod rds;
mod repair;
mod report;
pub mod secret;
pub mod util;
