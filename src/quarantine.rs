//! Quarantine: when a secret reached a local commit anyway (a `--no-verify` commit, history
//! older than `init`), rewrite only the unpublished commits so that the files holding it are
//! as they were published (or absent), keep the file as it is in the working tree, and never
//! touch anything a remote already has. The old tip is kept as a snapshot.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};

use crate::gate;
use crate::git::{GitPath, Repo};
use crate::snapshot;

pub struct Quarantined {
    pub paths: Vec<String>,
    pub rewritten: usize,
    pub snapshot: Option<String>,
}

pub fn quarantine(repo: &Repo) -> Result<Quarantined> {
    let branch = repo
        .head_branch()
        .context("HEAD is detached: check out your branch first")?;
    // Unpublished: on HEAD but on no remote-tracking ref. Oldest first, parents before children.
    let out = repo
        .git([
            "rev-list",
            "--topo-order",
            "--reverse",
            "HEAD",
            "--not",
            "--remotes",
        ])
        .run()?;
    let commits: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    if commits.is_empty() {
        bail!("every commit is already on a remote: nothing unpublished to rewrite");
    }
    let found = gate::commits(repo, &["HEAD", "--not", "--remotes"])?;
    // The names as git has them (bytes): a name with a space, a quote or a letter that is
    // not ASCII is still the same file.
    let mut raw: Vec<GitPath> = found.iter().map(|f| f.raw_path.clone()).collect();
    raw.sort();
    raw.dedup();
    let paths: Vec<String> = raw.iter().map(|p| gate::shown(p)).collect();
    if raw.is_empty() {
        return Ok(Quarantined {
            paths,
            rewritten: 0,
            snapshot: None,
        });
    }
    // The published version of each path, if any: what the rewritten commits hold instead
    // (mode 0 and no blob: the path is removed). The parent of the oldest unpublished
    // commit is the newest published one.
    let published = repo.rev(&format!("{}^", commits[0]))?;
    let mut index_info = Vec::new();
    for path in &raw {
        let entry = match &published {
            Some(base) => repo.tree_entry(base, path)?,
            None => None,
        };
        let (mode, oid) = entry.unwrap_or_else(|| ("0".into(), "0".repeat(40)));
        index_info.extend_from_slice(format!("{mode} {oid}\t").as_bytes());
        index_info.extend_from_slice(path);
        index_info.push(0);
    }
    let saved = snapshot::save(repo, "aisync: before quarantine")?;
    let index = repo.state_dir().join("quarantine.index");
    let mut mapped: HashMap<String, String> = HashMap::new();
    for commit in &commits {
        repo.git(["read-tree", commit]).index(&index).run()?;
        repo.git(["update-index", "-z", "--index-info"])
            .index(&index)
            .stdin(index_info.clone())
            .run()?;
        let tree = repo
            .git(["write-tree"])
            .index(&index)
            .run()?
            .stdout
            .trim()
            .to_string();
        let meta = repo
            .git([
                "log",
                "-1",
                "--format=%an%n%ae%n%aI%n%cn%n%ce%n%cI%n%P%n%B",
                commit,
            ])
            .run()?
            .stdout;
        let mut lines = meta.splitn(8, '\n');
        let mut next = || lines.next().unwrap_or_default().to_string();
        let (an, ae, ad, cn, ce, cd, parents, message) = (
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
        );
        let mut args = vec!["commit-tree".to_string(), tree];
        for p in parents.split_whitespace() {
            args.push("-p".into());
            args.push(mapped.get(p).cloned().unwrap_or_else(|| p.to_string()));
        }
        args.extend(["-m".into(), message.trim_end().to_string()]);
        let env = [
            ("GIT_AUTHOR_NAME", an.as_str()),
            ("GIT_AUTHOR_EMAIL", ae.as_str()),
            ("GIT_AUTHOR_DATE", ad.as_str()),
            ("GIT_COMMITTER_NAME", cn.as_str()),
            ("GIT_COMMITTER_EMAIL", ce.as_str()),
            ("GIT_COMMITTER_DATE", cd.as_str()),
        ];
        let mut git = repo.git(&args);
        for (key, value) in env {
            git = git.env(key, value);
        }
        let new = git.run()?.stdout.trim().to_string();
        mapped.insert(commit.clone(), new);
    }
    let _ = std::fs::remove_file(&index);
    let old_tip = commits.last().cloned().unwrap_or_default();
    let new_tip = mapped
        .get(&old_tip)
        .cloned()
        .context("the rewrite made no new tip")?;
    repo.git([
        "update-ref",
        "-m",
        "aisync: quarantine",
        &format!("refs/heads/{branch}"),
        &new_tip,
        &old_tip,
    ])
    .run()?;
    // The index follows the new tip; the working tree keeps every file as it is.
    repo.git(["reset", "--quiet", "--mixed"]).run()?;
    Ok(Quarantined {
        paths,
        rewritten: commits.len(),
        snapshot: saved,
    })
}
