//! The index file read in process (gitformat-index: versions 2, 3 and 4, and the cache-tree
//! extension), so that pre-commit costs no git process. What this reader does not take (a
//! split or sparse index, an unknown required extension, a file cut short) is `None`, and git
//! answers instead.

use std::collections::HashMap;
use std::path::Path;

/// A SHA-1 object id as the index stores it.
pub(super) type Oid = [u8; 20];

/// One index entry.
pub(super) struct Entry {
    /// `0o100644`, `0o100755`, `0o120000` (a symlink), `0o160000` (a submodule).
    pub mode: u32,
    pub oid: Oid,
    pub path: Vec<u8>,
    /// 0, or 1–3 for an unmerged path.
    pub stage: u8,
    /// `git add -N`: a path the next commit does not hold yet.
    pub intent_to_add: bool,
}

/// An index file: its entries, in path order, and the folders whose tree the cache-tree
/// extension knows (folder path, `/`-separated, the top as `""` → tree id).
pub(super) struct IndexFile {
    pub entries: Vec<Entry>,
    pub trees: HashMap<Vec<u8>, Oid>,
}

/// Reads the index file at `path`; `None` when it cannot be read here.
pub(super) fn read(path: &Path) -> Option<IndexFile> {
    parse(&std::fs::read(path).ok()?)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

/// The fixed part of an entry: times, device, inode, mode, ids, size (40 bytes), the object
/// id (20) and the flags (2).
const FIXED: usize = 62;
const EXTENDED: u16 = 0x4000;
const INTENT_TO_ADD: u16 = 0x2000;

/// The index format: a header, the entries, extensions, and a 20-byte checksum (not checked:
/// git writes the file whole and renames it into place).
fn parse(bytes: &[u8]) -> Option<IndexFile> {
    if bytes.get(..4)? != b"DIRC" {
        return None;
    }
    let version = u32_at(bytes, 4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let count = u32_at(bytes, 8)? as usize;
    let end = bytes.len().checked_sub(20)?;
    let body = bytes.get(..end)?;
    let mut entries = Vec::with_capacity(count.min(end / FIXED));
    let mut pos = 12;
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = pos;
        let mode = u32_at(body, start + 24)?;
        let oid: Oid = body.get(start + 40..start + 60)?.try_into().ok()?;
        let flags = u16_at(body, start + 60)?;
        pos = start + FIXED;
        let mut extended = 0;
        if flags & EXTENDED != 0 {
            if version < 3 {
                return None;
            }
            extended = u16_at(body, pos)?;
            pos += 2;
        }
        let path = if version == 4 {
            // The name shares a prefix with the one before: how many bytes of that one to
            // drop, then the rest, NUL-terminated; no padding.
            let (drop, used) = varint(body.get(pos..)?)?;
            pos += used;
            let nul = body.get(pos..)?.iter().position(|&b| b == 0)?;
            let keep = previous.len().checked_sub(drop)?;
            let mut path = previous[..keep].to_vec();
            path.extend_from_slice(&body[pos..pos + nul]);
            pos += nul + 1;
            path
        } else {
            // NUL-terminated, padded with NULs to a multiple of 8 bytes from the entry's
            // start (1 to 8 of them).
            let nul = body.get(pos..)?.iter().position(|&b| b == 0)?;
            let path = body[pos..pos + nul].to_vec();
            pos = start + ((pos + nul - start + 8) & !7);
            path
        };
        if pos > end || path.is_empty() {
            return None;
        }
        // A sparse index: a whole folder in one entry.
        if mode & 0o170000 == 0o040000 {
            return None;
        }
        previous.clone_from(&path);
        entries.push(Entry {
            mode,
            oid,
            path,
            stage: ((flags >> 12) & 3) as u8,
            intent_to_add: extended & INTENT_TO_ADD != 0,
        });
    }
    let mut trees = HashMap::new();
    while pos + 8 <= end {
        let signature = &body[pos..pos + 4];
        let size = u32_at(body, pos + 4)? as usize;
        let data = body.get(pos + 8..(pos + 8).checked_add(size)?)?;
        match signature {
            b"TREE" => trees = cache_tree(data).unwrap_or_default(),
            // Optional extensions start with a capital letter; any other (`link`: a split
            // index, `sdir`: a sparse one) changes what the entries mean.
            [b'A'..=b'Z', ..] => {}
            _ => return None,
        }
        pos += 8 + size;
    }
    Some(IndexFile { entries, trees })
}

/// The variable-length number of index version 4 (each byte's top bit says another follows,
/// and each continuation adds one before shifting): (value, bytes used).
fn varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut iter = bytes.iter();
    let mut byte = *iter.next()?;
    let mut value = (byte & 0x7f) as usize;
    let mut used = 1;
    while byte & 0x80 != 0 {
        byte = *iter.next()?;
        value = value.checked_add(1)?.checked_mul(128)? + (byte & 0x7f) as usize;
        used += 1;
    }
    Some((value, used))
}

/// The cache-tree extension: per folder (depth first, the top first) its name, NUL, its entry
/// count (`-1`: not valid), a space, its number of subfolders, a line feed, and when valid its
/// tree id. Only valid folders are kept.
fn cache_tree(data: &[u8]) -> Option<HashMap<Vec<u8>, Oid>> {
    let mut trees = HashMap::new();
    let mut pos = 0;
    tree_node(data, &mut pos, None, &mut trees, 0)?;
    Some(trees)
}

fn tree_node(
    data: &[u8],
    pos: &mut usize,
    parent: Option<&[u8]>,
    trees: &mut HashMap<Vec<u8>, Oid>,
    depth: usize,
) -> Option<()> {
    // Deeper than any path git takes: a damaged extension.
    if depth > 4096 {
        return None;
    }
    let rest = data.get(*pos..)?;
    let nul = rest.iter().position(|&b| b == 0)?;
    let name = &rest[..nul];
    let line_start = nul + 1;
    let nl = rest.get(line_start..)?.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&rest[line_start..line_start + nl]).ok()?;
    *pos += line_start + nl + 1;
    let (count, subtrees) = line.split_once(' ')?;
    let count: i64 = count.parse().ok()?;
    let subtrees: usize = subtrees.parse().ok()?;
    let path = match parent {
        None => Vec::new(),
        Some([]) => name.to_vec(),
        Some(p) => [p, b"/", name].concat(),
    };
    if count >= 0 {
        let oid: Oid = data.get(*pos..*pos + 20)?.try_into().ok()?;
        *pos += 20;
        trees.insert(path.clone(), oid);
    }
    for _ in 0..subtrees {
        tree_node(data, pos, Some(&path), trees, depth + 1)?;
    }
    Some(())
}

/// `oid` as 40 hex digits.
pub(super) fn hex(oid: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(oid.len() * 2);
    for b in oid {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::git_in;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = git_in(dir, args).output().unwrap();
        assert!(out.success, "git {args:?}: {}", out.stderr);
        out.stdout
    }

    /// What `git ls-files -s` says: (mode, id, stage, path) per entry.
    fn listed(dir: &Path) -> Vec<(u32, String, u8, Vec<u8>)> {
        git(dir, &["ls-files", "-s", "-z"])
            .split('\0')
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (meta, path) = e.split_once('\t').unwrap();
                let parts: Vec<&str> = meta.split(' ').collect();
                (
                    u32::from_str_radix(parts[0], 8).unwrap(),
                    parts[1].to_string(),
                    parts[2].parse().unwrap(),
                    path.as_bytes().to_vec(),
                )
            })
            .collect()
    }

    fn read_back(dir: &Path) -> Vec<(u32, String, u8, Vec<u8>)> {
        read(&dir.join(".git/index"))
            .expect("the index reads")
            .entries
            .into_iter()
            .map(|e| (e.mode, hex(&e.oid), e.stage, e.path))
            .collect()
    }

    #[test]
    fn every_index_version_reads_as_git_lists_it_with_its_cache_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q"]);
        std::fs::create_dir_all(dir.join("memory/deep/er")).unwrap();
        for (i, name) in [
            "a.md",
            "memory/notes.md",
            "memory/notes.md.bak",
            "memory/deep/er/x.json",
            "memory/deep/y with space.md",
            "z.txt",
        ]
        .iter()
        .enumerate()
        {
            std::fs::write(dir.join(name), format!("{i}\n")).unwrap();
        }
        // Names of every length mod 8, and one long name.
        for n in 1..=9 {
            std::fs::write(dir.join("n".repeat(n)), "x").unwrap();
        }
        std::fs::write(dir.join("l".repeat(200)), "x").unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["add", "-N", "z.txt"]);
        for version in ["2", "3", "4", "2"] {
            git(dir, &["update-index", "--index-version", version]);
            assert_eq!(read_back(dir), listed(dir), "version {version}");
        }
        // git add -N: version 3's extended flags.
        std::fs::write(dir.join("later.md"), "later\n").unwrap();
        git(dir, &["add", "-N", "later.md"]);
        let index = read(&dir.join(".git/index")).unwrap();
        let ita: Vec<&[u8]> = index
            .entries
            .iter()
            .filter(|e| e.intent_to_add)
            .map(|e| e.path.as_slice())
            .collect();
        assert_eq!(ita, [b"later.md".as_slice()]);
        // The cache tree, once `write-tree` filled it: each folder's tree as git has it.
        git(dir, &["rm", "-q", "--cached", "later.md"]);
        let top = git(dir, &["write-tree"]);
        let index = read(&dir.join(".git/index")).unwrap();
        assert_eq!(hex(&index.trees[b"".as_slice()]), top.trim());
        let deep = git(dir, &["rev-parse", &format!("{}:memory/deep", top.trim())]);
        assert_eq!(
            hex(&index.trees[b"memory/deep".as_slice()]),
            deep.trim(),
            "{:?}",
            index.trees.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn what_this_reader_does_not_take_is_left_to_git() {
        assert!(parse(b"").is_none());
        assert!(parse(b"DIRC\0\0\0\x05\0\0\0\0").is_none(), "version 5");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q"]);
        std::fs::write(dir.join("a.md"), "a\n").unwrap();
        git(dir, &["add", "a.md"]);
        let whole = std::fs::read(dir.join(".git/index")).unwrap();
        assert!(parse(&whole).is_some());
        assert!(parse(&whole[..whole.len() - 30]).is_none(), "cut short");
        // A split index.
        git(dir, &["update-index", "--split-index"]);
        assert!(read(&dir.join(".git/index")).is_none());
    }

    #[test]
    fn version_4_numbers_read_as_git_writes_them() {
        assert_eq!(varint(&[0x05]), Some((5, 1)));
        assert_eq!(varint(&[0x80, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0x81, 0x7f]), Some((383, 2)));
        assert_eq!(varint(&[0x80]), None);
    }
}
