//! The shape ARCHITECTURE.md promises, checked on the source: imports between the product's
//! modules only point down (no circle), one file spawns git, no process environment is
//! changed while threads may run, and no source file outgrows a reader.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The product's sources: `src/` (library and binary) and the merge-drivers crate.
fn sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut stack = vec![root.join("src"), root.join("merge-drivers/src")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The code of a file without its `#[cfg(test)] mod tests` block (always the last item).
fn product_code(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// The crate roots of the product, and the module path of a file under one of them
/// (`merge-drivers/src/yaml/reader.rs` → `merge-drivers`, `[yaml, reader]`).
fn module_of(path: &Path) -> Option<(&'static str, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (krate, rel) = [
        ("merge-drivers", "merge-drivers/src"),
        ("git-aisync", "src"),
    ]
    .into_iter()
    .find_map(|(k, dir)| Some((k, path.strip_prefix(root.join(dir)).ok()?)))?;
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    Some((krate, parts))
}

/// The identifier `text` starts with (empty when none).
fn identifier(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The module paths a text names through `crate::` or `super::` (in `use` lines, braces
/// included, and in paths), resolved from `module`, the file's own module path.
fn references(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            // `super::` inside `crate::a::super::` does not happen; a word before it does
            // (`use super::x` is preceded by a space).
            let before = rest[..i].chars().last();
            let after = &rest[i + prefix.len()..];
            rest = after;
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            // A path `a::b::c`, or `{a, b::c}`.
            let mut paths = Vec::new();
            if let Some(list) = after.strip_prefix('{') {
                let end = list.find('}').unwrap_or(list.len());
                paths.extend(list[..end].split(',').map(str::trim).map(str::to_string));
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(after.len());
                paths.push(after[..end].to_string());
            }
            for p in paths {
                let mut full = base.clone();
                full.extend(p.split("::").map(identifier).filter(|s| !s.is_empty()));
                found.push(full);
            }
        }
    }
    found
}

#[test]
fn imports_between_modules_point_one_way() {
    // Every module (a file), by crate and path.
    let files: Vec<(PathBuf, &str, Vec<String>)> = sources()
        .into_iter()
        .filter_map(|p| {
            let (krate, module) = module_of(&p)?;
            Some((p, krate, module))
        })
        .collect();
    let modules: BTreeSet<(&str, Vec<String>)> =
        files.iter().map(|(_, k, m)| (*k, m.clone())).collect();
    let name = |k: &str, m: &[String]| format!("{k}::{}", m.join("::"));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, krate, module) in &files {
        let text = fs::read_to_string(path).unwrap();
        // Comments name modules too (a doc link): only code counts.
        let code: String = product_code(&text)
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let edges = graph.entry(name(krate, module)).or_default();
        for mut target in references(&code, module) {
            // The longest prefix that is a module: `crate::git::Repo` is `git`.
            while !target.is_empty() && !modules.contains(&(*krate, target.clone())) {
                target.pop();
            }
            // A module and the modules it contains are one place: `mod.rs` declares its
            // children, and they use what it defines.
            let nested = target.starts_with(module) || module.starts_with(&target);
            if !nested {
                edges.insert(name(krate, &target));
            }
        }
    }
    // Depth-first search for a way back to where it started.
    fn path_back(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        seen: &mut BTreeSet<String>,
        trail: &mut Vec<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            trail.push(next.clone());
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) && path_back(graph, start, next, seen, trail) {
                return true;
            }
            trail.pop();
        }
        false
    }
    for start in graph.keys() {
        let mut trail = vec![start.clone()];
        if path_back(&graph, start, start, &mut BTreeSet::new(), &mut trail) {
            panic!("an import circle: {}", trail.join(" -> "));
        }
    }
    // The library knows nothing of the command line.
    for (from, to) in &graph {
        let binary = |m: &str| {
            ["git-aisync::commands", "git-aisync::ui"]
                .iter()
                .any(|b| m.starts_with(b))
        };
        if from.starts_with("git-aisync::") && !binary(from) && from != "git-aisync::" {
            assert!(
                !to.iter().any(|t| binary(t)),
                "{from} imports the binary's {to:?}"
            );
        }
    }
}

#[test]
fn one_file_spawns_git() {
    let spawners: Vec<PathBuf> = sources()
        .into_iter()
        .filter(|p| {
            let text = fs::read_to_string(p).unwrap();
            product_code(&text).contains("Command::new(\"git\")")
        })
        .collect();
    assert_eq!(spawners.len(), 1, "{spawners:?}");
    assert!(spawners[0].ends_with("src/git/command.rs"), "{spawners:?}");
}

#[test]
fn the_environment_is_changed_only_before_threads_start() {
    for path in sources() {
        let text = fs::read_to_string(&path).unwrap();
        let code = product_code(&text);
        if !path.ends_with("src/main.rs") {
            assert!(
                !code.contains("set_var(") && !code.contains("remove_var("),
                "{} changes the process environment",
                path.display()
            );
        }
    }
}

#[test]
fn no_source_file_outgrows_a_reader() {
    for path in sources() {
        let text = fs::read_to_string(&path).unwrap();
        let lines = product_code(&text)
            .lines()
            .filter(|l| {
                let l = l.trim();
                !l.is_empty() && !l.starts_with("//")
            })
            .count();
        assert!(
            lines <= 1000,
            "{} has {lines} lines of code",
            path.display()
        );
    }
}
