//! A real HTTPS hub on 127.0.0.1, as most people have one (GitHub, GitLab): nginx in front of
//! `git http-backend` (through fcgiwrap), TLS with a certificate made here, basic auth. Needs
//! nginx and fcgiwrap (Debian: nginx-light, fcgiwrap; `.ci/run` installs them): without them
//! the tests fail under CI and are skipped, saying so, elsewhere.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user and password the hub lets in.
pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct-horse";

/// A running HTTPS hub; its repositories live in `repos/` under its folder.
pub struct HttpsHub {
    nginx: Child,
    fcgiwrap: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Drop for HttpsHub {
    fn drop(&mut self) {
        for child in [&mut self.nginx, &mut self.fcgiwrap] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn found(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl HttpsHub {
    /// Starts the hub in `dir`; `None` (after saying why) where nginx or fcgiwrap is missing.
    pub fn start(dir: &Path) -> Option<HttpsHub> {
        let nginx = found(&["/usr/sbin/nginx", "/usr/local/sbin/nginx"]);
        let fcgiwrap = found(&["/usr/sbin/fcgiwrap", "/usr/local/sbin/fcgiwrap"]);
        let backend = found(&[
            "/usr/lib/git-core/git-http-backend",
            "/usr/libexec/git-core/git-http-backend",
            "/usr/local/libexec/git-core/git-http-backend",
        ]);
        let (Some(nginx), Some(fcgiwrap), Some(backend)) = (nginx, fcgiwrap, backend) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "nginx, fcgiwrap or git-http-backend is missing: .ci/run must install nginx-light and fcgiwrap"
            );
            eprintln!("skipping: no nginx or fcgiwrap here (apt-get install nginx-light fcgiwrap)");
            return None;
        };
        std::fs::create_dir_all(dir.join("repos")).unwrap();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        // A CA of the test's own, and the server's certificate signed by it (GnuTLS, which
        // Debian's git uses, takes no self-signed CA certificate as a server's).
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=aisync test CA"])
            .arg("-keyout")
            .arg(dir.join("ca.key"))
            .arg("-out")
            .arg(dir.join("ca.pem")));
        run(Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("server.csr")));
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
            .arg("-in")
            .arg(dir.join("server.csr"))
            .arg("-CA")
            .arg(dir.join("ca.pem"))
            .arg("-CAkey")
            .arg(dir.join("ca.key"))
            .arg("-extfile")
            .arg(dir.join("server.ext"))
            .arg("-out")
            .arg(dir.join("cert.pem")));
        let hash = run(Command::new("openssl").args(["passwd", "-apr1", PASSWORD]));
        std::fs::write(dir.join("htpasswd"), format!("{USER}:{}", hash.trim())).unwrap();
        let socket = dir.join("fcgi.sock");
        let fcgiwrap = Command::new(fcgiwrap)
            .arg("-s")
            .arg(format!("unix:{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("fcgiwrap.log")).unwrap())
            .spawn()
            .expect("fcgiwrap starts");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{}}\n\
             http {{\n\
               access_log {d}/access.log;\n\
               client_body_temp_path {d}/tmp/body;\n\
               fastcgi_temp_path {d}/tmp/fastcgi;\n\
               proxy_temp_path {d}/tmp/proxy;\n\
               uwsgi_temp_path {d}/tmp/uwsgi;\n\
               scgi_temp_path {d}/tmp/scgi;\n\
               server {{\n\
                 listen 127.0.0.1:{port} ssl;\n\
                 ssl_certificate {d}/cert.pem;\n\
                 ssl_certificate_key {d}/key.pem;\n\
                 client_max_body_size 0;\n\
                 location / {{\n\
                   auth_basic \"hub\";\n\
                   auth_basic_user_file {d}/htpasswd;\n\
                   include /etc/nginx/fastcgi_params;\n\
                   fastcgi_param SCRIPT_FILENAME {backend};\n\
                   fastcgi_param GIT_HTTP_EXPORT_ALL \"\";\n\
                   fastcgi_param GIT_PROJECT_ROOT {d}/repos;\n\
                   fastcgi_param PATH_INFO $uri;\n\
                   fastcgi_param REMOTE_USER $remote_user;\n\
                   fastcgi_pass unix:{socket};\n\
                 }}\n\
               }}\n\
             }}\n",
            backend = backend.display(),
            socket = socket.display(),
        );
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let nginx = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("nginx.log")).unwrap())
            .spawn()
            .expect("nginx starts");
        let hub = HttpsHub {
            nginx,
            fcgiwrap,
            port,
            dir: dir.to_path_buf(),
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !socket.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the hub did not start: {}{}",
                std::fs::read_to_string(dir.join("nginx.log")).unwrap_or_default(),
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(hub)
    }

    /// A new empty bare repository `name` on the hub, and its URL.
    pub fn repo(&self, name: &str) -> String {
        let path = self.dir.join("repos").join(name);
        run(Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&path));
        // Pushes over HTTP: the backend takes them from an authenticated user.
        run(Command::new("git")
            .arg("-C")
            .arg(&path)
            .args(["config", "http.receivepack", "true"]));
        format!("https://127.0.0.1:{}/{name}", self.port)
    }

    /// `GIT_CONFIG_*` environment that trusts the hub's certificate and takes the password
    /// from a credential store holding `password` (none: no helper at all).
    pub fn client_env(&self, password: Option<&str>) -> Vec<(String, String)> {
        let mut config = vec![(
            "http.sslCAInfo".to_string(),
            self.dir.join("ca.pem").display().to_string(),
        )];
        if let Some(password) = password {
            let store = self.dir.join(format!("credentials-{password}"));
            std::fs::write(
                &store,
                format!("https://{USER}:{password}@127.0.0.1:{}\n", self.port),
            )
            .unwrap();
            config.push((
                "credential.helper".to_string(),
                format!("store --file={}", store.display()),
            ));
        }
        let mut env = vec![
            ("GIT_CONFIG_COUNT".to_string(), config.len().to_string()),
            // An environment that names its own CA bundle (some CI images do) would shadow
            // http.sslCAInfo: it names this hub's CA too.
            (
                "GIT_SSL_CAINFO".to_string(),
                self.dir.join("ca.pem").display().to_string(),
            ),
        ];
        for (i, (k, v)) in config.into_iter().enumerate() {
            env.push((format!("GIT_CONFIG_KEY_{i}"), k));
            env.push((format!("GIT_CONFIG_VALUE_{i}"), v));
        }
        env
    }
}
