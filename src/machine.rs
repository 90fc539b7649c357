//! This machine's name: what its commits, journal records and peers' inboxes are named
//! after (`aisync.machine`, else the host name).

use crate::git::Repo;

/// This machine's name (`aisync.machine`, else the host name).
pub fn name(repo: &Repo) -> String {
    repo.setting("aisync.machine")
        .map(str::to_string)
        .unwrap_or_else(host_name)
}

/// The host name as the OS gives it (gethostname: the same for a shell, a service and
/// cron, on Linux and macOS alike), without macOS's `.local`; for `aisync.machine` and the
/// locks' records.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    let name = name.strip_suffix(".local").unwrap_or(&name);
    if ok && !name.is_empty() {
        name.to_string()
    } else {
        "this-machine".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_name_is_the_os_s_whatever_the_shell_exports() {
        let uname = std::process::Command::new("uname")
            .arg("-n")
            .output()
            .unwrap();
        let os = String::from_utf8_lossy(&uname.stdout).trim().to_string();
        assert_eq!(host_name(), os.strip_suffix(".local").unwrap_or(&os));
    }
}
