//! This machine's name: what its commits, journal records and peers' inboxes are named
//! after (`aisync.machine`, else the host name).

use crate::git::Repo;

/// This machine's name (`aisync.machine`, else the host name).
pub fn name(repo: &Repo) -> String {
    repo.setting("aisync.machine")
        .map(str::to_string)
        .unwrap_or_else(host_name)
}

/// The host name, for `aisync.machine` and the lock's record.
pub fn host_name() -> String {
    let from_file = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| from_file("/proc/sys/kernel/hostname"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "this-machine".to_string())
}
