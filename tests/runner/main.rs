//! The integration tests, one binary (the suite links once): a module a command or a
//! subject. They run on the threads of one process, so none of them may change what the
//! process shares (its environment, its working directory, its signal handlers): each sets
//! what it needs on the commands it starts, and a program a test writes and then runs goes
//! through `executable` or `copy_executable` (another thread's fork would otherwise leave it
//! "Text file busy").

mod common;

mod architecture;
mod assistants;
mod config_formats;
mod doctor;
mod https;
mod init;
mod inside;
mod install;
mod mcp;
mod merge_driver;
mod peers;
mod precommit_framework;
mod secrets;
mod service;
mod ssh;
mod status;
mod sync;
mod watch;
mod watch_ssh;
