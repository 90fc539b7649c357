//! Stopping the watcher: SIGINT and SIGTERM are blocked in every thread, and one thread takes
//! them with sigwait(2) and asks the loop to stop after the cycle in flight.

// libc (already a dependency) rather than signal-hook: no handler runs in signal context, and
// std clears the mask in the git children it spawns, so they keep the usual signals.

use std::sync::mpsc::Sender;

use anyhow::{bail, Result};

use super::Msg;

/// SIGINT and SIGTERM, blocked; `forward` turns them into a stop request.
pub struct StopSignals(libc::sigset_t);

impl StopSignals {
    /// Blocks SIGINT and SIGTERM in this thread and in every thread it starts later: call it
    /// before any thread exists.
    pub fn block() -> Result<StopSignals> {
        // SAFETY: sigset_t is plain data that sigemptyset initialises; pthread_sigmask only
        // reads it.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                bail!("cannot block SIGINT and SIGTERM for a clean stop");
            }
            Ok(StopSignals(set))
        }
    }

    /// The first signal asks the loop to stop after the cycle in flight; a second one stops
    /// the process at once.
    pub(super) fn forward(self, tx: Sender<Msg>) {
        std::thread::spawn(move || {
            let mut asked = false;
            loop {
                let mut sig: libc::c_int = 0;
                // SAFETY: waits for one of the blocked signals in the set we own.
                if unsafe { libc::sigwait(&self.0, &mut sig) } != 0 {
                    continue;
                }
                if asked {
                    eprintln!("git-aisync: a second signal: stopping now");
                    std::process::exit(1);
                }
                asked = true;
                let _ = tx.send(Msg::Stop(sig));
            }
        });
    }
}
