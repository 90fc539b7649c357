//! git-aisync as a library: the sync cycle, the watcher, the policy, the secret gate and the
//! repository access that the `git-aisync` binary (`main.rs`, `commands/`) drives.
//!
//! It never prints: commands render the typed values it returns (`state::Report`,
//! `status::Status`, `doctor::Finding`, …), and the watcher logs through a sink. See
//! ARCHITECTURE.md for the layers and what may import what.

// Layer 0: foundations (no imports of ours).
pub mod platform;
pub mod shell;
pub mod url;
// Layer 1: the repository, the only place that runs git.
pub mod git;
// Layer 2: concepts.
pub mod assistants;
pub mod journal;
pub mod lock;
pub mod machine;
pub mod policy;
pub mod remote;
pub mod removed;
pub mod scanner;
pub mod service;
pub mod ssh;
pub mod state;
// Layer 3: gates and pieces of the cycle.
pub mod bridge;
pub mod gate;
pub mod install;
pub mod peer;
pub mod resolve;
pub mod snapshot;
// Layer 4: operations.
pub mod connect;
pub mod init;
pub mod integrate;
pub mod quarantine;
pub mod restore;
pub mod sync;
// Layer 5: the watcher.
pub mod watch;
// Layer 6: reports on all of the above.
pub mod doctor;
pub mod mcp;
pub mod status;
