//! A real sshd on 127.0.0.1 for the SSH tests: its own host key, an authorized key made
//! here, a home of its own for the sessions. Needs `sshd` (Debian: openssh-server; `.ci/run`
//! installs it): without it the tests fail under CI and are skipped, saying so, elsewhere.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::GitAisync;

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sshd_binary() -> Option<PathBuf> {
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

pub fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs")
        .success();
    assert!(ok, "ssh-keygen failed");
}

/// An sshd on 127.0.0.1 that lets this user in with a key made here; `None` without sshd.
/// `with_aisync`: whether the sessions find `B` on their PATH (git they always find).
pub fn start_sshd<B: GitAisync>(dir: &Path, with_aisync: bool) -> Option<Sshd> {
    start_sshd_with::<B>(dir, with_aisync, None)
}

/// [`start_sshd`], the sessions finding the programs in `first` before any other (a wrapper
/// that logs what the hub is asked, say).
pub fn start_sshd_with<B: GitAisync>(
    dir: &Path,
    with_aisync: bool,
    first: Option<&Path>,
) -> Option<Sshd> {
    let Some(sshd) = sshd_binary() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "sshd is missing: .ci/run must install openssh-server"
        );
        eprintln!("skipping: no sshd here (apt-get install openssh-server)");
        return None;
    };
    std::fs::create_dir_all(dir).unwrap();
    // sshd's privilege separation directory (a package install makes it at boot).
    let _ = std::fs::create_dir_all("/run/sshd");
    keygen(&dir.join("host_key"));
    keygen(&dir.join("client_key"));
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    // The system's PATH without any folder that holds a git-aisync; then, if wanted, the
    // folder of the binary under test first.
    let system: Vec<String> = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty() && !Path::new(d).join("git-aisync").exists())
        .map(str::to_string)
        .collect();
    let mut path = system.join(":");
    if with_aisync {
        path = format!("{}:{path}", B::exe().parent().unwrap().display());
    }
    if let Some(first) = first {
        path = format!("{}:{path}", first.display());
    }
    // A home of its own for the sessions: the user's shell start-up files (a .bashrc that
    // sets up pyenv costs 300 ms a session, and may put an installed git-aisync on PATH)
    // stay out of the measure and out of the fallback test.
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin yes\nAllowUsers {user}\nSetEnv HOME={d}/home PATH={path}\n",
        d = dir.display(),
    );
    std::fs::write(dir.join("sshd_config"), config).unwrap();
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
        .spawn()
        .expect("sshd starts");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "sshd did not start: {}",
            std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Sshd {
        child,
        port,
        dir: dir.to_path_buf(),
    })
}

impl Sshd {
    /// The ssh command a machine uses: its key, and a known_hosts of its own.
    pub fn ssh_command(&self, known_hosts: &Path) -> String {
        format!(
            "ssh -i {} -o UserKnownHostsFile={} -o IdentitiesOnly=yes -p {}",
            self.dir.join("client_key").display(),
            known_hosts.display(),
            self.port
        )
    }

    /// The ssh:// URL of the repository at `path` on this server.
    pub fn url(&self, path: &Path) -> String {
        format!("ssh://127.0.0.1:{}{}", self.port, path.display())
    }

    pub fn trust(&self, known_hosts: &Path) {
        let key = std::fs::read_to_string(self.dir.join("host_key.pub")).unwrap();
        std::fs::write(known_hosts, format!("[127.0.0.1]:{} {key}", self.port)).unwrap();
    }
}
