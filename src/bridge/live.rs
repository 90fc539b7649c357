//! Reading and writing an assistant's own files, safely: never through a symlink, never
//! outside the live root, never while the assistant is saving one (its lock or temp file
//! beside it), and a write is a temp file in the same folder renamed over the old one, with
//! the old one's mode.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::assistants::glob_match;

/// The end of a temp file of ours: the watcher ignores it, the walk skips it.
pub const TEMP_MARK: &str = ".aisync-tmp.";

/// Why a live file was left alone this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// A symlink (or a folder on the way is one): never followed.
    Symlink,
    /// The assistant is saving it: its lock or temp file is beside it.
    Busy(String),
    /// Not a regular file.
    NotAFile,
    Io(String),
}

impl Blocked {
    pub fn reason(&self) -> String {
        match self {
            Blocked::Symlink => {
                "a symlink: never followed (replace it with the file itself)".into()
            }
            Blocked::Busy(by) => format!("being saved ({by} beside it): retried next cycle"),
            Blocked::NotAFile => "not a regular file".into(),
            Blocked::Io(e) => format!("cannot be read or written: {e}"),
        }
    }
}

/// How long an assistant's lock or temp file means "busy": an older one is left over from
/// a crash and would otherwise block the file for ever.
const BUSY_FOR: Duration = Duration::from_secs(60);

/// Whether a folder on the way from `root` to `path` (exclusive of `root`, inclusive of
/// `path`'s parent) is a symlink.
fn symlink_on_the_way(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return true;
    };
    let mut here = root.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        here.push(part);
        if fs::symlink_metadata(&here).is_ok_and(|m| m.file_type().is_symlink()) {
            return true;
        }
    }
    false
}

/// The bytes of the live file at `path` (inside `root`); `None` when there is none.
pub fn read(root: &Path, path: &Path, busy: &[&str]) -> Result<Option<Vec<u8>>, Blocked> {
    if symlink_on_the_way(root, path) {
        return Err(Blocked::Symlink);
    }
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Blocked::Io(e.to_string())),
    };
    if meta.file_type().is_symlink() {
        return Err(Blocked::Symlink);
    }
    if !meta.is_file() {
        return Err(Blocked::NotAFile);
    }
    if let Some(by) = busy_by(path, busy) {
        return Err(Blocked::Busy(by));
    }
    fs::read(path)
        .map(Some)
        .map_err(|e| Blocked::Io(e.to_string()))
}

/// The assistant's lock or temp file beside `path`, if a recent one is there
/// (`settings.json.tmp.1234`, `settings.json.lock`, `.claude.json.lock`).
pub fn busy_by(path: &Path, busy: &[&str]) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let dir = path.parent()?;
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let other = entry.file_name().to_string_lossy().into_owned();
        if other == name || !other.starts_with(&name) || other.contains(TEMP_MARK) {
            continue;
        }
        if !busy.iter().any(|p| glob_match(p, &other)) {
            continue;
        }
        let recent = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < BUSY_FOR);
        if recent {
            return Some(other);
        }
    }
    None
}

/// Writes `bytes` as the live file at `path` (inside `root`): a temp file beside it, the
/// old file's mode (a new file: 0600, as assistants keep their settings), then swapped in.
/// Folders on the way are made as real folders; a symlink anywhere is refused.
pub fn write(root: &Path, path: &Path, bytes: &[u8]) -> Result<(), Blocked> {
    let now = fs::read(path).ok();
    replace(root, path, bytes, now.as_deref()).map(|_| ())
}

/// What a [`replace`] found at the path when it swapped its bytes in.
#[derive(Debug, PartialEq, Eq)]
pub enum Replaced {
    /// What the caller expected: nothing else was written meanwhile.
    AsExpected,
    /// Something else (the assistant saved between the caller's read and this write): its
    /// bytes, or `None` when the file was gone. The caller merges them in: they are not
    /// lost, only no longer at the path.
    Displaced(Option<Vec<u8>>),
}

/// Writes `bytes` as the live file at `path` (inside `root`) by swapping a temp file in
/// atomically (Linux's `renameat2` exchange), and says whether what it replaced was
/// `expected` (`None`: no file). A save by the assistant that lands between the caller's
/// read and this write is handed back, never silently overwritten. Where the exchange is
/// not available, a rename after a last check (a window of microseconds, not of a cycle).
pub fn replace(
    root: &Path,
    path: &Path,
    bytes: &[u8],
    expected: Option<&[u8]>,
) -> Result<Replaced, Blocked> {
    if symlink_on_the_way(root, path) {
        return Err(Blocked::Symlink);
    }
    let mode = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(Blocked::Symlink),
        Ok(m) if !m.is_file() => return Err(Blocked::NotAFile),
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(_) => 0o600,
    };
    let dir = path.parent().ok_or(Blocked::NotAFile)?;
    fs::create_dir_all(dir).map_err(|e| Blocked::Io(e.to_string()))?;
    if symlink_on_the_way(root, path) {
        return Err(Blocked::Symlink);
    }
    let name = path.file_name().ok_or(Blocked::NotAFile)?;
    let tmp = dir.join(format!(
        ".{}{TEMP_MARK}{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Blocked::Io(e.to_string()));
    }
    let result = swap_in(&tmp, path, expected);
    let _ = fs::remove_file(&tmp);
    result.map_err(|e| Blocked::Io(e.to_string()))
}

#[cfg(target_os = "linux")]
fn swap_in(tmp: &Path, path: &Path, expected: Option<&[u8]>) -> io::Result<Replaced> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::other("a NUL in a path"))
    };
    let (from, to) = (c(tmp)?, c(path)?);
    let rename = |flags: libc::c_uint| {
        // SAFETY: two NUL-terminated paths we own; renameat2 reads them and returns.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                flags,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    loop {
        match rename(libc::RENAME_EXCHANGE) {
            // The old file is at `tmp` now.
            Ok(()) => {
                let old = fs::read(tmp)?;
                return Ok(if expected == Some(old.as_slice()) {
                    Replaced::AsExpected
                } else {
                    Replaced::Displaced(Some(old))
                });
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                match rename(libc::RENAME_NOREPLACE) {
                    Ok(()) => {
                        return Ok(if expected.is_none() {
                            Replaced::AsExpected
                        } else {
                            Replaced::Displaced(None)
                        })
                    }
                    // Made meanwhile: exchange with it.
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
                    Err(e) => return Err(e),
                }
            }
            // A file system without the exchange (some network ones).
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                return checked_rename(tmp, path, expected)
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn swap_in(tmp: &Path, path: &Path, expected: Option<&[u8]>) -> io::Result<Replaced> {
    checked_rename(tmp, path, expected)
}

/// The rename, after a last look at what is there.
fn checked_rename(tmp: &Path, path: &Path, expected: Option<&[u8]>) -> io::Result<Replaced> {
    let now = match fs::read(path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if now.as_deref() != expected {
        return Ok(Replaced::Displaced(now));
    }
    fs::rename(tmp, path)?;
    Ok(Replaced::AsExpected)
}

/// Removes the live file at `path` (inside `root`), never through a symlink.
pub fn remove(root: &Path, path: &Path) -> Result<(), Blocked> {
    if symlink_on_the_way(root, path) {
        return Err(Blocked::Symlink);
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Blocked::Io(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_keeps_the_mode_and_replaces_the_file_not_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let file = root.join("settings.json");
        fs::write(&file, "{}").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
        write(root, &file, b"{\"a\":1}").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"{\"a\":1}");
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let leftovers: Vec<_> = fs::read_dir(root).unwrap().flatten().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn symlinks_are_neither_read_nor_written_through() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("live");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("x.md"), "secret").unwrap();
        std::os::unix::fs::symlink(outside.join("x.md"), root.join("x.md")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("dir")).unwrap();
        assert_eq!(read(&root, &root.join("x.md"), &[]), Err(Blocked::Symlink));
        assert_eq!(
            read(&root, &root.join("dir/x.md"), &[]),
            Err(Blocked::Symlink)
        );
        assert_eq!(
            write(&root, &root.join("x.md"), b"new"),
            Err(Blocked::Symlink)
        );
        assert_eq!(
            write(&root, &root.join("dir/y.md"), b"new"),
            Err(Blocked::Symlink)
        );
        assert_eq!(fs::read(outside.join("x.md")).unwrap(), b"secret");
        assert!(!outside.join("y.md").exists());
    }

    #[test]
    fn a_save_between_read_and_write_is_handed_back_not_lost() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let file = root.join("settings.json");
        fs::write(&file, "read").unwrap();
        assert_eq!(
            replace(root, &file, b"ours", Some(b"read")).unwrap(),
            Replaced::AsExpected
        );
        // The assistant saves after we read "ours"...
        fs::write(&file, "theirs").unwrap();
        let got = replace(root, &file, b"ours again", Some(b"ours")).unwrap();
        assert_eq!(got, Replaced::Displaced(Some(b"theirs".to_vec())));
        assert_eq!(fs::read(&file).unwrap(), b"ours again");
        let new = root.join("new.md");
        assert_eq!(
            replace(root, &new, b"x", None).unwrap(),
            Replaced::AsExpected
        );
        assert_eq!(
            replace(root, &root.join("gone.md"), b"x", Some(b"was here")).unwrap(),
            Replaced::Displaced(None)
        );
        let leftovers: Vec<_> = fs::read_dir(root)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(TEMP_MARK))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn a_temp_file_beside_means_busy() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let file = root.join("settings.json");
        fs::write(&file, "{}").unwrap();
        let busy = ["*.lock", "*.tmp", "*.tmp.*"];
        assert!(read(root, &file, &busy).is_ok());
        fs::write(root.join("settings.json.tmp.4242"), "{").unwrap();
        assert!(matches!(read(root, &file, &busy), Err(Blocked::Busy(_))));
    }
}
