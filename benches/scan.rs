//! The secret scanner's cost: throughput of `git aisync scan` on 100 MB of mixed memory
//! content (Markdown notes, JSON stores, JSONL logs, YAML configs, code with UUIDs, SHAs,
//! base64 and URLs, a few made-up secrets among them), and what the pre-commit hook adds to
//! a 100-file commit. Figures are printed, never asserted, except that every planted secret
//! is found and nothing else is.
//!
//! cargo bench --bench scan            (AISYNC_BENCH_SCAN_MB=N for another size)

use std::time::{Duration, Instant};

use aisync_testkit::rng::Rng;
use aisync_testkit::{git_ok as git, init_repo, GitAisync};

/// The binary under test.
enum Bin {}

impl GitAisync for Bin {
    const EXE: &'static str = env!("CARGO_BIN_EXE_git-aisync");
}

fn hex(r: &mut Rng, n: usize) -> String {
    from(r, b"0123456789abcdef", n)
}

fn from(r: &mut Rng, alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| char::from(alphabet[r.below(alphabet.len())]))
        .collect()
}

const WORDS: &[&str] = &[
    "the",
    "user",
    "prefers",
    "tabs",
    "project",
    "uses",
    "postgres",
    "deploys",
    "on",
    "fridays",
    "never",
    "cache",
    "token",
    "budget",
    "review",
    "latency",
    "p99",
    "migration",
    "notes",
    "secret",
    "password",
    "key",
    "Alice",
    "Bob",
    "rust",
    "cargo",
    "branch",
    "main",
    "café",
    "λ",
];
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn sentence(r: &mut Rng, words: usize) -> String {
    let mut s: Vec<&str> = (0..words).map(|_| WORDS[r.below(WORDS.len())]).collect();
    s.push(".");
    s.join(" ")
}

/// A made-up credential of a kind the scanner knows, built here (never a real key).
fn planted(r: &mut Rng, n: usize) -> String {
    match n % 4 {
        0 => format!("{}{}", "AKIA", from(r, UPPER, 16)),
        1 => format!("{}{}", "ghp_", from(r, ALNUM, 36)),
        2 => format!("{}{}", "xoxb-", from(r, b"0123456789", 12)) + "-" + &from(r, ALNUM, 24),
        _ => format!("{}{}", "sk-ant-api03-", from(r, ALNUM, 60)),
    }
}

/// One file of about `size` bytes in the style of `kind`; `secret` planted once if given.
fn file(r: &mut Rng, kind: usize, size: usize, secret: Option<&str>) -> String {
    let mut out = String::with_capacity(size + 512);
    let mut i = 0;
    while out.len() < size {
        let line = match kind {
            0 => format!(
                "- {} (see https://example.com/docs/{})\n",
                sentence(r, 12),
                hex(r, 8)
            ),
            1 => format!(
                "    {{\"id\": \"{}-{}-{}\", \"text\": \"{}\", \"commit\": \"{}\"}},\n",
                hex(r, 8),
                hex(r, 4),
                hex(r, 12),
                sentence(r, 10),
                hex(r, 40)
            ),
            2 => format!(
                "{{\"ts\":\"2026-01-{:02}T10:00:00Z\",\"role\":\"assistant\",\"msg\":\"{}\"}}\n",
                1 + i % 28,
                sentence(r, 14)
            ),
            3 => format!(
                "  note_{i}: \"{}\"\n  image: {}\n",
                sentence(r, 8),
                from(r, B64, 76)
            ),
            _ => format!(
                "fn step_{i}(x: u64) -> u64 {{ x.wrapping_mul({}) }} // {}\n",
                r.next_u64() % 1000,
                sentence(r, 6)
            ),
        };
        out.push_str(&line);
        if i == 7 {
            if let Some(s) = secret {
                out.push_str(&format!("- the deploy key is {s} (rotate it)\n"));
            }
        }
        i += 1;
    }
    out
}

/// CPU time (user + system) of the children reaped so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage fills the struct we own.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn throughput() {
    let mb: usize = std::env::var("AISYNC_BENCH_SCAN_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("memory");
    std::fs::create_dir_all(&dir).unwrap();
    let mut r = Rng::new(0x5ca7_7e57_5eed_0001);
    let (files, per_file) = (mb * 4, 256 * 1024);
    let mut total = 0;
    let mut secrets = Vec::new();
    for n in 0..files {
        let kind = n % 5;
        let secret = (n % 20 == 3).then(|| planted(&mut r, secrets.len()));
        let text = file(&mut r, kind, per_file, secret.as_deref());
        total += text.len();
        secrets.extend(secret);
        let ext = ["md", "json", "jsonl", "yml", "rs"][kind];
        std::fs::write(dir.join(format!("f{n:04}.{ext}")), text).unwrap();
    }
    // Warm the page cache: the scanner is measured, not the disk.
    for e in std::fs::read_dir(&dir).unwrap() {
        let _ = std::fs::read(e.unwrap().path());
    }
    let mut best = Duration::MAX;
    let mut best_cpu = Duration::MAX;
    for _ in 0..3 {
        let cpu = children_cpu();
        let start = Instant::now();
        let out = Bin::run(tmp.path(), &["scan", "--json", "memory"]);
        let took = start.elapsed();
        let cpu = children_cpu() - cpu;
        let found: serde_json::Value = serde_json::from_slice(&out.stdout).expect("scan --json");
        let found = found.as_array().map_or(0, Vec::len);
        assert_eq!(
            found,
            secrets.len(),
            "every planted secret found, and nothing else"
        );
        best = best.min(took);
        best_cpu = best_cpu.min(cpu);
    }
    let mbs = |d: Duration| total as f64 / (1 << 20) as f64 / d.as_secs_f64();
    println!(
        "scan: {:.0} MB in {files} files, {} secrets planted and found: {:.0} ms wall, {:.0} MB/s \
         ({:.0} MB per CPU second; target >= 200 MB/s on one core)",
        total as f64 / (1 << 20) as f64,
        secrets.len(),
        best.as_secs_f64() * 1000.0,
        mbs(best),
        mbs(best_cpu)
    );
}

/// A repository with 100 new notes staged, with or without git-aisync installed.
fn staged_repo(install: bool, round: u64) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    init_repo(dir);
    if install {
        assert!(Bin::run(dir, &["install"]).status.success(), "install");
        git(dir, &["config", "aisync.autopush", "false"]);
    }
    std::fs::create_dir_all(dir.join("memory")).unwrap();
    let mut r = Rng::new(0x0100_f11e_5000 + round);
    for n in 0..100 {
        let text = file(&mut r, n % 5, 2048, None);
        let ext = ["md", "json", "jsonl", "yml", "rs"][n % 5];
        std::fs::write(dir.join(format!("memory/n{n:03}.{ext}")), text).unwrap();
    }
    git(dir, &["add", "memory"]);
    tmp
}

fn hook_on_a_100_file_commit() {
    let (mut plain, mut hooked) = (Duration::ZERO, Duration::ZERO);
    const ROUNDS: u64 = 5;
    for round in 0..ROUNDS {
        for (install, sum) in [(false, &mut plain), (true, &mut hooked)] {
            let repo = staged_repo(install, round);
            let start = Instant::now();
            git(repo.path(), &["commit", "-q", "-m", "100 notes"]);
            *sum += start.elapsed();
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / ROUNDS as f64;
    println!(
        "100-file commit: {:.1} ms plain, {:.1} ms with the hooks: the pre-commit scan and \
         checks add {:.1} ms",
        ms(plain),
        ms(hooked),
        ms(hooked) - ms(plain)
    );
}

fn main() {
    if std::env::var_os("AISYNC_BENCH_KEEP").is_some() {
        // A repository with git-aisync and 100 notes staged, left for a closer look.
        let repo = staged_repo(true, 0);
        println!("kept: {}", repo.keep().display());
        return;
    }
    throughput();
    hook_on_a_100_file_commit();
}
