//! One module per command; each has an `Args` (its help text) and a `run`.

pub mod completions;
pub mod conflicts;
pub mod doctor;
pub mod hook;
pub mod init;
pub mod install;
pub mod kick;
pub mod merge_driver;
pub mod notify_wait;
pub mod peer;
pub mod quarantine;
pub mod restore;
pub mod run_on;
pub mod scan;
pub mod service;
pub mod status;
pub mod sync;
pub mod uninstall;
pub mod watch;
