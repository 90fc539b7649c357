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

/// The top-level module a file of `src/` belongs to (`src/git/index.rs` → `git`).
fn module_of(path: &Path) -> Option<String> {
    let rel = path
        .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
        .ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    Some(first.trim_end_matches(".rs").to_string())
}

/// The identifier `text` starts with (empty when none).
fn identifier(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Every `crate::NAME` a text names (in `use` lines and paths alike).
fn crate_references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        found.insert(identifier(after));
        // `use crate::{a, b::c}`: each name in the braces.
        if let Some(list) = after.strip_prefix('{') {
            let end = list.find('}').unwrap_or(list.len());
            found.extend(list[..end].split(',').map(identifier));
        }
        rest = after;
    }
    found.remove("");
    found
}

#[test]
fn imports_between_modules_point_one_way() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let modules: BTreeSet<String> = sources().iter().filter_map(|p| module_of(p)).collect();
    for path in sources() {
        let Some(from) = module_of(&path) else {
            continue;
        };
        let text = fs::read_to_string(&path).unwrap();
        let edges = graph.entry(from.clone()).or_default();
        // Comments name modules too (a doc link): only code counts.
        let code: String = product_code(&text)
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for to in crate_references(&code) {
            if to != from && modules.contains(&to) {
                edges.insert(to);
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
        if !["main", "commands", "ui"].contains(&from.as_str()) {
            for binary_only in ["commands", "ui"] {
                assert!(
                    !to.contains(binary_only),
                    "{from} imports {binary_only}, which is the binary's"
                );
            }
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
