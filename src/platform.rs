//! What kind of machine this is, for the parts that behave differently on it.

/// Whether this is Linux under WSL: Windows programs work on the same files unseen by
/// inotify and `/proc`.
pub fn is_wsl() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .is_ok_and(|r| r.to_lowercase().contains("microsoft"))
}
