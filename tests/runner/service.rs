//! `git aisync service`: the systemd unit, the launchd agent and the crontab line it writes,
//! with HOME in a temp dir (nothing is started: `--no-start`, or no service manager on PATH).

use crate::common;

use common::bin;
use std::path::PathBuf;
use std::process::{Command, Output};

struct Home {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    repo: PathBuf,
}

impl Home {
    /// A temp HOME and a repository made by `git aisync init` (no remote).
    fn new() -> Home {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let repo = tmp.path().join("ai memory");
        common::init_alone(&repo);
        Home {
            _tmp: tmp,
            home,
            repo,
        }
    }

    fn service(&self, args: &[&str], path: Option<&str>) -> Output {
        let mut cmd = Command::new(bin());
        cmd.arg("service")
            .args(args)
            .current_dir(&self.repo)
            .env("HOME", &self.home)
            .env_remove("XDG_CONFIG_HOME")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
        if let Some(p) = path {
            cmd.env("PATH", p);
        }
        cmd.output().unwrap()
    }

    fn one_file(&self, dir: &str) -> PathBuf {
        let files: Vec<PathBuf> = std::fs::read_dir(self.home.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].clone()
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A directory holding only `git` (and `sh`), for a PATH without any service manager.
fn bare_path(home: &Home) -> String {
    let dir = home.home.join("bare-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for tool in ["git", "sh"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
            .unwrap();
        std::os::unix::fs::symlink(found, dir.join(tool)).unwrap();
    }
    dir.to_string_lossy().into_owned()
}

#[test]
fn a_systemd_user_unit_runs_watch_in_the_repository() {
    let h = Home::new();
    let said = ok(&h.service(&["install", "--manager", "systemd", "--no-start"], None));
    let unit = h.one_file(".config/systemd/user");
    let name = unit.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("git-aisync-ai-memory-") && name.ends_with(".service"),
        "{name}"
    );
    assert!(said.contains("systemctl --user enable --now"), "{said}");
    let text = std::fs::read_to_string(&unit).unwrap();
    let repo = std::fs::canonicalize(&h.repo).unwrap();
    assert!(
        text.contains(&format!("ExecStart=\"{}\" watch\n", bin().display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("WorkingDirectory={}\n", repo.display())),
        "{text}"
    );
    for line in [
        "[Unit]\n",
        "[Service]\n",
        "Restart=on-failure\n",
        "KillMode=mixed\n",
        "[Install]\nWantedBy=default.target\n",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }

    // systemd's own check, where the tool is here and can run.
    if let Ok(out) = Command::new("systemd-analyze")
        .args(["verify", unit.to_str().unwrap()])
        .output()
    {
        let err = String::from_utf8_lossy(&out.stderr);
        let cannot_run = err.contains("Failed to initialize manager")
            || err.contains("Failed to setup working directory");
        if !cannot_run {
            assert!(out.status.success(), "systemd-analyze verify: {err}");
            assert!(
                !err.contains(&name),
                "systemd-analyze verify found problems: {err}"
            );
        }
    }

    let status = h.service(&["status", "--json"], None);
    ok(&status);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["systemd"]["unit"], unit.to_str().unwrap());
    assert!(status["watcher"].is_null());

    let said = ok(&h.service(&["uninstall"], None));
    assert!(said.contains("removed"), "{said}");
    assert!(!unit.exists());
    let said = ok(&h.service(&["uninstall"], None));
    assert!(said.contains("no service was installed"), "{said}");
}

#[test]
fn without_systemctl_the_unit_is_written_and_the_way_to_start_it_is_said() {
    let h = Home::new();
    let path = bare_path(&h);
    let said = ok(&h.service(&["install", "--manager", "systemd"], Some(&path)));
    assert!(
        said.contains("no systemctl here")
            && said.contains("systemctl --user daemon-reload && systemctl --user enable --now"),
        "{said}"
    );
    let unit = h.one_file(".config/systemd/user");
    assert!(std::fs::read_to_string(unit)
        .unwrap()
        .contains(&format!("Environment=\"PATH={path}\"")));
}

#[test]
fn a_launchd_agent_runs_watch_at_login_and_after_a_failure() {
    let h = Home::new();
    ok(&h.service(&["install", "--manager", "launchd", "--no-start"], None));
    let plist = h.one_file("Library/LaunchAgents");
    let name = plist.file_stem().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(&plist).unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist"));
    let repo = std::fs::canonicalize(&h.repo).unwrap();
    for part in [
        format!("<key>Label</key>\n\t<string>{name}</string>"),
        format!(
            "<key>ProgramArguments</key>\n\t<array>\n\t\t<string>{}</string>\n\t\t<string>watch</string>\n\t</array>",
            bin().display()
        ),
        format!(
            "<key>WorkingDirectory</key>\n\t<string>{}</string>",
            repo.display()
        ),
        "<key>RunAtLoad</key>\n\t<true/>".to_string(),
        "<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>".to_string(),
    ] {
        assert!(text.contains(&part), "{part} in\n{text}");
    }
    // Balanced and well nested, as plutil would demand.
    let mut open: Vec<&str> = Vec::new();
    for tag in text
        .split('<')
        .skip(1)
        .map(|t| t.split('>').next().unwrap())
    {
        if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        match tag.strip_prefix('/') {
            Some(close) => assert_eq!(open.pop(), Some(close), "{text}"),
            None => open.push(tag.split(' ').next().unwrap()),
        }
    }
    assert!(open.is_empty(), "{open:?}");
    if let Ok(out) = Command::new("plutil")
        .args(["-lint", plist.to_str().unwrap()])
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    ok(&h.service(&["uninstall"], None));
    assert!(!plist.exists());
}

#[test]
fn a_crontab_line_is_added_once_replaced_and_removed_leaving_the_rest() {
    let h = Home::new();
    // A fake crontab that keeps the table in a file.
    let (table, bin_dir) = fake_crontab(&h);
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    // No table yet.
    ok(&h.service(&["install", "--cron"], Some(&path)));
    let text = std::fs::read_to_string(&table).unwrap();
    let repo = std::fs::canonicalize(&h.repo).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].starts_with(&format!("*/5 * * * * cd '{}' && PATH=", repo.display()))
            && lines[0].contains(&format!(
                "'{}' sync --quiet # git-aisync-ai-memory-",
                bin().display()
            )),
        "{text}"
    );

    // Someone else's line stays; installing again replaces ours.
    std::fs::write(&table, format!("0 1 * * * backup\n{text}")).unwrap();
    ok(&h.service(&["install", "--cron", "--every", "15"], Some(&path)));
    let text = std::fs::read_to_string(&table).unwrap();
    assert_eq!(text.matches("git-aisync-ai-memory-").count(), 1, "{text}");
    assert!(
        text.starts_with("0 1 * * * backup\n*/15 * * * * cd "),
        "{text}"
    );

    let status = ok(&h.service(&["status"], Some(&path)));
    assert!(status.contains("cron: */15 * * * *"), "{status}");

    let said = h.service(&["install", "--cron", "--every", "90"], Some(&path));
    assert_eq!(said.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&said.stderr).contains("--every 90"));

    ok(&h.service(&["uninstall"], Some(&path)));
    assert_eq!(
        std::fs::read_to_string(&table).unwrap(),
        "0 1 * * * backup\n"
    );
}

#[test]
fn started_through_a_package_managers_link_the_unit_runs_the_link_that_survives_upgrades() {
    let h = Home::new();
    // Homebrew's layout: bin/git-aisync links to the versioned file an upgrade replaces.
    let cellar = h.home.join("cellar/0.1.0");
    let bin_dir = h.home.join("brew-bin");
    std::fs::create_dir_all(&cellar).unwrap();
    std::fs::create_dir_all(&bin_dir).unwrap();
    common::copy_executable(&bin(), &cellar.join("git-aisync"));
    let link = bin_dir.join("git-aisync");
    std::os::unix::fs::symlink(cellar.join("git-aisync"), &link).unwrap();

    let out = Command::new(&link)
        .args(["service", "install", "--manager", "systemd", "--no-start"])
        .current_dir(&h.repo)
        .env("HOME", &h.home)
        .env_remove("XDG_CONFIG_HOME")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    ok(&out);
    let text = std::fs::read_to_string(h.one_file(".config/systemd/user")).unwrap();
    assert!(
        text.contains(&format!("ExecStart=\"{}\" watch\n", link.display())),
        "{text}"
    );
}

/// A fake `crontab` that keeps the table in a file; returns the file and the folder to put
/// first on PATH.
fn fake_crontab(h: &Home) -> (PathBuf, PathBuf) {
    let bin_dir = h.home.join("fake-cron-bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let table = h.home.join("crontab.txt");
    common::executable(
        &bin_dir.join("crontab"),
        &format!(
            "#!/bin/sh\nf='{}'\ncase \"$1\" in\n  -l) [ -f \"$f\" ] && exec cat \"$f\"; echo \"no crontab for $USER\" >&2; exit 1 ;;\n  -) cat > \"$f\" ;;\n  *) exit 2 ;;\nesac\n",
            table.display()
        ),
    );
    (table, bin_dir)
}

#[test]
fn under_wsl_a_long_path_still_makes_a_crontab_line_cron_reads_whole() {
    let h = Home::new();
    let (table, fake) = fake_crontab(&h);
    // WSL puts every Windows folder on PATH: far past classic cron's 1000-character lines.
    let windows: Vec<String> = (0..40)
        .map(|i| format!("/mnt/c/Program Files/Some Vendor {i}/Common Files/bin"))
        .collect();
    let path = format!(
        "{}:{}:{}",
        fake.display(),
        windows.join(":"),
        std::env::var("PATH").unwrap_or_default()
    );
    assert!(path.len() > 1000);

    ok(&h.service(&["install", "--cron"], Some(&path)));
    let text = std::fs::read_to_string(&table).unwrap();
    let line = text.lines().next().unwrap_or("");
    assert!(line.len() < 1000, "{} characters: {line}", line.len());
    assert!(!line.contains("/mnt/c"), "{line}");
    let git_dir = std::env::split_paths(&path)
        .find(|d| d.join("git").is_file())
        .unwrap();
    let bin_dir = bin().parent().unwrap().to_path_buf();
    for dir in [git_dir.as_path(), bin_dir.as_path()] {
        assert!(
            line.contains(&dir.display().to_string()),
            "{dir:?} in {line}"
        );
    }
    // The line runs: its PATH finds git.
    let cron_path = line
        .split("PATH='")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap();
    let dirs: Vec<&str> = cron_path.split(':').collect();
    assert!(
        dirs.contains(&"/usr/bin") && dirs.contains(&"/bin") && dirs.len() <= 5,
        "{line}"
    );
    let git = Command::new("sh")
        .args(["-c", "git --version"])
        .env("PATH", cron_path)
        .output()
        .unwrap();
    assert!(git.status.success(), "{cron_path}");

    ok(&h.service(&["uninstall"], Some(&path)));
    assert_eq!(std::fs::read_to_string(&table).unwrap(), "");
}
