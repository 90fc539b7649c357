//! Running the watcher as a service: a systemd user unit (Linux), a launchd agent (macOS), or
//! a crontab line that runs `sync` every N minutes (the simplest strategy, no daemon at all).
//! The files are made here; installing writes them under `$HOME` and asks the service
//! manager to start them when it is there, and says how to start them when it is not.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Who runs the watcher (or the cycle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Manager {
    /// A systemd user unit running `watch` (Linux).
    Systemd,
    /// A launchd agent running `watch` (macOS).
    Launchd,
    /// A crontab line running `sync` every N minutes.
    Cron,
}

impl Manager {
    /// This system's own: launchd on macOS, systemd elsewhere.
    pub fn native() -> Manager {
        if cfg!(target_os = "macos") {
            Manager::Launchd
        } else {
            Manager::Systemd
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Manager::Systemd => "systemd",
            Manager::Launchd => "launchd",
            Manager::Cron => "cron",
        }
    }
}

/// The longest crontab line classic cron (Vixie, cronie) reads whole, newline excluded.
const CRON_LINE_MAX: usize = 998;

/// The service of one repository: its name and what it runs.
pub struct Service {
    /// `git-aisync-<folder>-<hash of the path>`: the unit, agent label and cron marker.
    pub name: String,
    pub work_tree: PathBuf,
    /// The absolute path of this binary.
    pub exe: PathBuf,
    /// PATH as it is now, so the service finds the same git (and ssh) as this shell.
    pub path: Option<String>,
    pub home: PathBuf,
}

impl Service {
    pub fn new(work_tree: &Path, exe: &Path) -> Result<Service> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .context("HOME is not set: set it to your home folder and run this again")?;
        for p in [work_tree, exe] {
            if p.to_str().is_none_or(|s| s.contains(['\n', '\r'])) {
                bail!(
                    "{} is not a path a service file can hold (not UTF-8, or a line break): move it and run this again",
                    p.display()
                );
            }
        }
        Ok(Service {
            name: service_name(work_tree),
            work_tree: work_tree.to_path_buf(),
            exe: exe.to_path_buf(),
            path: std::env::var("PATH")
                .ok()
                .filter(|p| !p.is_empty() && !p.contains(['\n', '\r'])),
            home,
        })
    }

    fn tree(&self) -> &str {
        self.work_tree.to_str().unwrap_or_default()
    }

    fn bin(&self) -> &str {
        self.exe.to_str().unwrap_or_default()
    }

    /// `~/.config/systemd/user/<name>.service` (`$XDG_CONFIG_HOME` first, as systemd reads).
    pub fn unit_path(&self) -> PathBuf {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| self.home.join(".config"));
        config
            .join("systemd/user")
            .join(format!("{}.service", self.name))
    }

    /// `~/Library/LaunchAgents/<name>.plist`.
    pub fn plist_path(&self) -> PathBuf {
        self.home
            .join("Library/LaunchAgents")
            .join(format!("{}.plist", self.name))
    }

    /// The systemd user unit that runs `watch` in the repository.
    pub fn systemd_unit(&self) -> String {
        let mut unit = format!(
            "# Written by `git aisync service install`; `git aisync service uninstall` removes it.\n\
             [Unit]\n\
             Description=git-aisync watcher for {desc}\n\
             \n\
             [Service]\n\
             Type=simple\n\
             WorkingDirectory={dir}\n\
             ExecStart={exe} watch\n\
             Restart=on-failure\n\
             RestartSec=10\n\
             # SIGTERM to the watcher alone: it finishes the cycle in flight, then exits 0.\n\
             KillMode=mixed\n\
             # A cycle's git commands may take up to two minutes before they are stopped.\n\
             TimeoutStopSec=150\n",
            desc = systemd_specifiers(self.tree()),
            dir = systemd_specifiers(self.tree()),
            exe = systemd_quoted(self.bin()).replace('$', "$$"),
        );
        if let Some(path) = &self.path {
            unit.push_str(&format!(
                "Environment={}\n",
                systemd_quoted(&format!("PATH={path}"))
            ));
        }
        unit.push_str("\n[Install]\nWantedBy=default.target\n");
        unit
    }

    /// The launchd agent that runs `watch` in the repository, started at login and again
    /// when it fails.
    pub fn launchd_plist(&self) -> String {
        let mut env = String::new();
        if let Some(path) = &self.path {
            env = format!(
                "\t<key>EnvironmentVariables</key>\n\t<dict>\n\t\t<key>PATH</key>\n\t\t<string>{}</string>\n\t</dict>\n",
                xml(path)
            );
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <!-- Written by `git aisync service install`; `git aisync service uninstall` removes it. -->\n\
             <plist version=\"1.0\">\n\
             <dict>\n\
             \t<key>Label</key>\n\
             \t<string>{label}</string>\n\
             \t<key>ProgramArguments</key>\n\
             \t<array>\n\
             \t\t<string>{exe}</string>\n\
             \t\t<string>watch</string>\n\
             \t</array>\n\
             \t<key>WorkingDirectory</key>\n\
             \t<string>{dir}</string>\n\
             {env}\
             \t<key>RunAtLoad</key>\n\
             \t<true/>\n\
             \t<key>KeepAlive</key>\n\
             \t<dict>\n\
             \t\t<key>SuccessfulExit</key>\n\
             \t\t<false/>\n\
             \t</dict>\n\
             \t<key>ThrottleInterval</key>\n\
             \t<integer>10</integer>\n\
             \t<key>ProcessType</key>\n\
             \t<string>Background</string>\n\
             </dict>\n\
             </plist>\n",
            label = xml(&self.name),
            exe = xml(self.bin()),
            dir = xml(self.tree()),
        )
    }

    /// The crontab line: `sync --quiet` in the repository every `every` minutes, marked with
    /// the service name so that install replaces it and uninstall finds it.
    pub fn cron_line(&self, every: u32) -> Result<String> {
        let when = match every {
            1..=59 => format!("*/{every} * * * *"),
            n if n >= 60 && n % 60 == 0 && n / 60 <= 23 => format!("0 */{} * * *", n / 60),
            1440 => "0 0 * * *".to_string(),
            _ => bail!("--every {every}: use a number of minutes from 1 to 59, or whole hours (60, 120, …, 1440)"),
        };
        let path = self
            .cron_path()
            .map(|p| format!("PATH={} ", crate::shell::quote(&p)))
            .unwrap_or_default();
        // cron turns an unescaped % into a line break.
        let command = format!(
            "cd {} && {path}{} sync --quiet",
            crate::shell::quote(self.tree()),
            crate::shell::quote(self.bin())
        )
        .replace('%', "\\%");
        let line = format!("{when} {command} {}", self.cron_marker());
        // Classic cron cuts a longer line, and with it the marker uninstall looks for.
        if line.len() > CRON_LINE_MAX {
            bail!(
                "the crontab line would be {} characters, more than cron reads ({CRON_LINE_MAX}): move the repository or git-aisync to a shorter path, or use `git aisync service install` without --cron",
                line.len()
            );
        }
        Ok(line)
    }

    /// The PATH a crontab line needs, not the whole of this shell's (under WSL that holds
    /// every Windows folder, past cron's line limit): the folders of git, ssh and
    /// git-aisync as this PATH finds them, then `/usr/bin:/bin`.
    fn cron_path(&self) -> Option<String> {
        let path = self.path.as_deref()?;
        let found = |name: &str| {
            std::env::split_paths(path)
                .filter(|d| d.is_absolute())
                .find(|d| d.join(name).is_file())
        };
        let mut dirs: Vec<PathBuf> = Vec::new();
        let wanted = [
            found("git"),
            found("ssh"),
            self.exe.parent().map(Path::to_path_buf),
        ]
        .into_iter()
        .flatten()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")]);
        for dir in wanted {
            // A folder whose name holds the separator cannot be on a PATH.
            if !dirs.contains(&dir) && dir.to_str().is_some_and(|d| !d.contains(':')) {
                dirs.push(dir);
            }
        }
        std::env::join_paths(dirs)
            .ok()
            .and_then(|p| p.into_string().ok())
    }

    fn cron_marker(&self) -> String {
        format!("# {}", self.name)
    }
}

/// `git-aisync-<folder>-<8 hex digits of the path>`: readable, and two repositories with
/// the same folder name still get two services.
pub fn service_name(work_tree: &Path) -> String {
    let base = work_tree
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut slug: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    slug = slug.trim_matches(['-', '.']).to_string();
    if slug.is_empty() {
        slug = "repo".into();
    }
    // FNV-1a: stable across Rust versions and machines, unlike the std hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for b in work_tree.as_os_str().as_encoded_bytes() {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("git-aisync-{slug}-{hash:08x}")
}

/// A systemd value with `%` specifiers escaped.
fn systemd_specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

/// A double-quoted systemd word (ExecStart, Environment).
fn systemd_quoted(s: &str) -> String {
    format!(
        "\"{}\"",
        systemd_specifiers(s)
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// What a service manager command did.
pub enum Ran {
    Ok,
    /// The tool is not installed here.
    Missing,
    /// It ran and failed: its message.
    Failed(String),
}

/// Runs a service manager's command (not git: `systemctl`, `launchctl`, `crontab`).
fn run_tool<I, S>(tool: &str, args: I, input: Option<&str>) -> (Ran, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(tool);
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Ran::Missing, String::new()),
        Err(e) => {
            return (
                Ran::Failed(format!("cannot run {tool}: {e}")),
                String::new(),
            )
        }
    };
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(text.as_bytes());
    }
    match child.wait_with_output() {
        Ok(out) if out.status.success() => (Ran::Ok, String::from_utf8_lossy(&out.stdout).into()),
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("failed");
            (
                Ran::Failed(format!("{tool}: {}", line.trim())),
                String::from_utf8_lossy(&out.stdout).into(),
            )
        }
        Err(e) => (Ran::Failed(format!("{tool}: {e}")), String::new()),
    }
}

/// What `install` did.
pub struct Installed {
    /// The file written, or the crontab line added.
    pub written: String,
    /// Started by the service manager (`Ok`), or how to start it by hand and why.
    pub started: Result<(), String>,
}

pub fn install(s: &Service, manager: Manager, start: bool, every: u32) -> Result<Installed> {
    match manager {
        Manager::Systemd => {
            let path = s.unit_path();
            write_file(&path, &s.systemd_unit())?;
            let unit = format!("{}.service", s.name);
            let by_hand =
                format!("systemctl --user daemon-reload && systemctl --user enable --now {unit}");
            let started = if start {
                systemctl(&["daemon-reload"])
                    .and_then(|()| systemctl(&["enable", "--now", &unit]))
                    .map_err(|why| format!("{why}; start it with: {by_hand}"))
            } else {
                Err(format!("not started; start it with: {by_hand}"))
            };
            Ok(Installed {
                written: path.display().to_string(),
                started,
            })
        }
        Manager::Launchd => {
            let path = s.plist_path();
            write_file(&path, &s.launchd_plist())?;
            let target = format!("gui/{}", uid());
            let by_hand = format!(
                "launchctl bootstrap {target} {}",
                crate::shell::quote(&path.to_string_lossy())
            );
            let started = if start {
                // A previous version of the agent goes first, so the new file is read.
                let _ = run_tool(
                    "launchctl",
                    ["bootout", &format!("{target}/{}", s.name)],
                    None,
                );
                match run_tool(
                    "launchctl",
                    [
                        OsStr::new("bootstrap"),
                        OsStr::new(&target),
                        path.as_os_str(),
                    ],
                    None,
                )
                .0
                {
                    Ran::Ok => Ok(()),
                    Ran::Missing => Err(format!("no launchctl here; start it with: {by_hand}")),
                    Ran::Failed(why) => Err(format!("{why}; start it with: {by_hand}")),
                }
            } else {
                Err(format!("not started; start it with: {by_hand}"))
            };
            Ok(Installed {
                written: path.display().to_string(),
                started,
            })
        }
        Manager::Cron => {
            let line = s.cron_line(every)?;
            let table = crontab()?;
            let mut lines: Vec<&str> = table
                .lines()
                .filter(|l| !l.ends_with(&s.cron_marker()))
                .collect();
            lines.push(&line);
            set_crontab(&(lines.join("\n") + "\n"))?;
            Ok(Installed {
                written: line.clone(),
                started: Ok(()),
            })
        }
    }
}

/// Removes whatever is installed for this repository (unit, agent, crontab line); returns
/// what was removed.
pub fn uninstall(s: &Service) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let unit = s.unit_path();
    if unit.exists() {
        let name = format!("{}.service", s.name);
        // Stopped first (when systemd runs here): the watcher finishes its cycle.
        let _ = systemctl(&["disable", "--now", &name]);
        fs::remove_file(&unit).with_context(|| format!("cannot remove {}", unit.display()))?;
        let _ = systemctl(&["daemon-reload"]);
        removed.push(unit.display().to_string());
    }
    let plist = s.plist_path();
    if plist.exists() {
        let _ = run_tool(
            "launchctl",
            ["bootout", &format!("gui/{}/{}", uid(), s.name)],
            None,
        );
        fs::remove_file(&plist).with_context(|| format!("cannot remove {}", plist.display()))?;
        removed.push(plist.display().to_string());
    }
    if let Some(line) = cron_entry(s)? {
        let table = crontab()?;
        let kept: Vec<&str> = table
            .lines()
            .filter(|l| !l.ends_with(&s.cron_marker()))
            .collect();
        set_crontab(&if kept.is_empty() {
            String::new()
        } else {
            kept.join("\n") + "\n"
        })?;
        removed.push(format!("the crontab line `{line}`"));
    }
    Ok(removed)
}

/// What is installed for this repository, for `service status`.
pub struct Installation {
    pub unit: Option<PathBuf>,
    /// `systemctl --user is-active`'s word, when systemd answers.
    pub unit_state: Option<String>,
    pub plist: Option<PathBuf>,
    pub cron: Option<String>,
}

pub fn installation(s: &Service) -> Installation {
    let unit = Some(s.unit_path()).filter(|p| p.exists());
    let unit_state = unit.as_ref().and_then(|_| {
        let (_, out) = run_tool(
            "systemctl",
            ["--user", "is-active", &format!("{}.service", s.name)],
            None,
        );
        Some(out.trim().to_string()).filter(|w| !w.is_empty())
    });
    Installation {
        unit,
        unit_state,
        plist: Some(s.plist_path()).filter(|p| p.exists()),
        cron: cron_entry(s).ok().flatten(),
    }
}

fn cron_entry(s: &Service) -> Result<Option<String>> {
    if which("crontab").is_none() {
        return Ok(None);
    }
    Ok(crontab()?
        .lines()
        .find(|l| l.ends_with(&s.cron_marker()))
        .map(str::to_string))
}

/// The user's crontab (empty when there is none yet).
fn crontab() -> Result<String> {
    match run_tool("crontab", ["-l"], None) {
        (Ran::Ok, table) => Ok(table),
        (Ran::Missing, _) => bail!("there is no crontab command here: install cron, or use `git aisync service install` without --cron"),
        // `crontab -l` fails when the user has no table yet.
        (Ran::Failed(why), _) if why.contains("no crontab") => Ok(String::new()),
        (Ran::Failed(why), _) => bail!("cannot read the crontab ({why})"),
    }
}

fn set_crontab(table: &str) -> Result<()> {
    match run_tool("crontab", ["-"], Some(table)).0 {
        Ran::Ok => Ok(()),
        Ran::Missing => bail!("there is no crontab command here: install cron"),
        Ran::Failed(why) => bail!("cannot write the crontab ({why})"),
    }
}

fn systemctl(args: &[&str]) -> std::result::Result<(), String> {
    let mut all = vec!["--user"];
    all.extend_from_slice(args);
    match run_tool("systemctl", &all, None).0 {
        Ran::Ok => Ok(()),
        Ran::Missing => Err("no systemctl here".into()),
        Ran::Failed(why) => Err(why),
    }
}

/// Where `name` is on PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory of ours.
    unsafe { libc::getuid() }
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(tree: &str, exe: &str, path: Option<&str>) -> Service {
        Service {
            name: service_name(Path::new(tree)),
            work_tree: PathBuf::from(tree),
            exe: PathBuf::from(exe),
            path: path.map(str::to_string),
            home: PathBuf::from("/home/me"),
        }
    }

    #[test]
    fn names_are_readable_and_distinct() {
        let a = service_name(Path::new("/home/me/ai memory"));
        let b = service_name(Path::new("/work/ai memory"));
        assert!(a.starts_with("git-aisync-ai-memory-"), "{a}");
        assert_ne!(a, b);
        assert_eq!(a, service_name(Path::new("/home/me/ai memory")), "stable");
        assert_eq!(a.len(), "git-aisync-ai-memory-".len() + 8);
    }

    #[test]
    fn the_unit_quotes_what_systemd_would_read_otherwise() {
        let s = service(
            "/home/me/100% notes",
            "/opt/my \"tools\"/git-aisync",
            Some("/usr/bin:/bin"),
        );
        let unit = s.systemd_unit();
        assert!(
            unit.contains("ExecStart=\"/opt/my \\\"tools\\\"/git-aisync\" watch\n"),
            "{unit}"
        );
        assert!(
            unit.contains("WorkingDirectory=/home/me/100%% notes\n"),
            "{unit}"
        );
        assert!(unit.contains("Environment=\"PATH=/usr/bin:/bin\"\n"));
        assert!(unit.contains("Restart=on-failure\n"));
        assert!(unit.contains("KillMode=mixed\n"));
        assert!(unit.ends_with("[Install]\nWantedBy=default.target\n"));
    }

    #[test]
    fn the_plist_is_escaped_xml() {
        let s = service(
            "/Users/me/a&b",
            "/usr/local/bin/git-aisync",
            Some("/usr/bin"),
        );
        let plist = s.launchd_plist();
        assert!(
            plist.contains("<string>/Users/me/a&amp;b</string>"),
            "{plist}"
        );
        assert!(plist.contains(&format!("<key>Label</key>\n\t<string>{}</string>", s.name)));
        assert!(plist.contains(
            "<array>\n\t\t<string>/usr/local/bin/git-aisync</string>\n\t\t<string>watch</string>\n\t</array>"
        ));
        assert!(plist.contains("<key>SuccessfulExit</key>\n\t\t<false/>"));
        assert_eq!(
            plist.matches("<dict>").count(),
            plist.matches("</dict>").count()
        );
    }

    #[test]
    fn cron_lines_quote_and_escape() {
        let s = service("/home/me/it's 100%", "/usr/bin/git-aisync", None);
        let line = s.cron_line(5).unwrap();
        assert_eq!(
            line,
            format!(
                "*/5 * * * * cd '/home/me/it'\\''s 100\\%' && '/usr/bin/git-aisync' sync --quiet # {}",
                s.name
            )
        );
        assert!(s.cron_line(120).unwrap().starts_with("0 */2 * * * "));
        assert!(s.cron_line(1440).unwrap().starts_with("0 0 * * * "));
        assert!(s.cron_line(0).is_err());
        let deep = format!("/home/me/{}", "deep/".repeat(200));
        let err = service(&deep, "/usr/bin/git-aisync", None)
            .cron_line(5)
            .unwrap_err();
        assert!(err.to_string().contains("more than cron reads"), "{err}");
        assert!(s.cron_line(90).is_err());
    }
}
