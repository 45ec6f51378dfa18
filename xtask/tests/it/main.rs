//! The integration tests, one binary: each module is one command's or
//! part's tests, all on the shared `support` (servers, the xtask binary,
//! the proxy, the AWS emulator), compiled and linked once.

#[path = "../support/mod.rs"]
mod support;

mod causes;
mod db_test;
mod dev_db;
mod engine_choice;
mod engine_host;
mod env_files;
mod env_fix;
mod env_fix_stress;
mod exit_codes;
mod faults;
mod many_runners;
mod migrate;
mod onboard;
mod prisma_schema;
mod rds_check;
mod rds_check_scripted;
mod report;
mod scripts;
mod secrets;
mod tidy;
mod while_running;
