//! All output goes through `Ui`: data for programs on stdout, messages for people on stderr.
//! The binary's alone: the library returns typed values and the commands render them here.

use std::io::Write;

pub struct Ui {
    _private: (),
}

impl Ui {
    pub fn new() -> Self {
        Ui { _private: () }
    }

    /// Data (a listing, JSON) on stdout. A closed pipe is not an error worth a panic.
    pub fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
    }

    /// A short status line for a person, on stderr.
    pub fn status(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "git-aisync: {text}");
    }

    pub fn error(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "git-aisync: error: {text}");
    }
}
