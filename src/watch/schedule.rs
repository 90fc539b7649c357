//! When the watcher acts: the debounce of local writes, cycles wanted at once, the error retry,
//! each remote's next check, the inbox's next look, and the suspend check.
//!
//! A pure state machine: events come in with the instant they happened, and it answers what is
//! due now and when it next needs a look. No I/O, no threads, no sleeps: the loop does those,
//! and the tests here drive it with made-up instants.

use std::time::{Duration, Instant, SystemTime};

use crate::policy::Policy;

/// The longest the loop sleeps with nothing to do: the suspend check's resolution.
pub(super) const IDLE_CAP: Duration = Duration::from_secs(60);
/// While a notify-wait session with an SSH hub is open, the hub is still asked this often
/// (or every `poll`, if longer): a safety net for a session that died without a word.
pub(super) const SAFETY_POLL: Duration = Duration::from_secs(30);
/// Offline remotes are asked again at most this far apart.
const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// A wall clock ahead of the monotonic clock by more than this was a suspend.
const CLOCK_JUMP: Duration = Duration::from_secs(10);
/// The leading edge: a write on a quiet watcher whose file is complete (closed by its writer,
/// or renamed into place) is taken once this long has passed without another write, instead
/// of after `delay`. Writes that follow within it are a burst: the debounce as before.
pub(super) const LEAD_QUIET: Duration = Duration::from_millis(20);
/// Writes spread over more than this are a burst, however complete each one is: the
/// debounce takes them (so a writer in a loop makes no more commits than it did).
const LEAD_SPAN: Duration = Duration::from_millis(50);

/// `poll`, doubled per failure, at most a minute.
pub(super) fn backoff(poll: Duration, failures: u32) -> Duration {
    poll.saturating_mul(1 << failures.min(8)).min(BACKOFF_CAP)
}

/// The policy's timers.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timing {
    /// A burst of writes is taken this long after its last write…
    pub delay: Duration,
    /// …or this long after its first, if it goes on.
    pub max_wait: Duration,
    /// How often remotes are asked (and the base of every backoff).
    pub poll: Duration,
}

impl Timing {
    pub fn of(policy: &Policy) -> Timing {
        Timing {
            delay: policy.delay,
            max_wait: policy.max_wait,
            // A zero poll interval in the policy must not make a busy loop.
            poll: policy.poll.max(Duration::from_millis(250)),
        }
    }
}

/// What is due now.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Due {
    /// A cycle wanted at once, and why (a remote moved or answers again, a delivery, a
    /// suspend). Local writes that had settled go with it.
    Wanted(String),
    /// Local writes settled (they paused for `delay`, or went on for `max_wait`): a cycle, if
    /// they changed something to commit.
    Writes,
    /// The retry after a cycle that ended in an error.
    Retry,
}

/// How a cycle ended, as far as the timers go.
pub(super) struct CycleEnd<'a> {
    /// It ended in an error: retried later and later.
    pub error: bool,
    /// It got as far as the remotes (synced, held files back, or found some offline).
    pub reached: bool,
    /// The remotes it could not sync with.
    pub offline: &'a [String],
}

/// A remote's timers.
struct RemoteClock {
    name: String,
    /// Asked over the network (`git ls-remote`), not read from its files: a failure backs
    /// its checks off.
    asked: bool,
    /// A notify-wait session is open: checks slow to the safety net.
    notified: bool,
    next_check: Instant,
    /// A check is under way: no other starts until its answer.
    in_flight: bool,
    /// Consecutive failures: the backoff's exponent.
    failures: u32,
    /// Unreachable at the last check or cycle: an answer starts a cycle.
    offline: bool,
    /// Not before this, though, when the last cycle failed with the remote answering.
    resume_at: Instant,
    /// The last check found it unreachable (so a failed cycle was no surprise).
    seen_away: bool,
    /// The tip a cycle already ran for (a failed cycle is not retried for the same tip by
    /// remote checks; the error retry and local events do that).
    acted_on: Option<String>,
}

impl RemoteClock {
    /// How long until the next check when nothing is wrong.
    fn every(&self, poll: Duration) -> Duration {
        if self.notified {
            SAFETY_POLL.max(poll)
        } else {
            poll
        }
    }
}

/// The first and the last write of a burst still settling.
struct Burst {
    first: Instant,
    last: Instant,
    /// It began on a quiet watcher (no write for `delay`, no cycle that just ended) and has
    /// not spread over `LEAD_SPAN`: it may be taken on the leading edge.
    lead: bool,
    /// Every file it wrote is complete, as far as the watcher can tell (the last event left
    /// no file open for writing, and what it can check parses).
    complete: bool,
}

/// Every timer of the watcher, driven by [`Schedule::due`] and [`Schedule::next_deadline`].
pub(super) struct Schedule {
    timing: Timing,
    burst: Option<Burst>,
    /// The last local write, of this burst or the one before.
    last_write: Option<Instant>,
    /// When the last cycle ended: writes that come right after one came while it ran (or
    /// are its own checkout's), and debounce.
    cycle_end: Option<Instant>,
    /// A cycle wanted at once, and why.
    wanted: Option<String>,
    /// Consecutive cycles that ended in an error, and when to try again.
    errors: u32,
    retry_at: Option<Instant>,
    /// The monotonic and the wall clock at the last look: a gap between them is a suspend.
    clock: (Instant, SystemTime),
    /// Without file events for the inbox, when to look at it again.
    inbox_at: Option<Instant>,
    remotes: Vec<RemoteClock>,
}

impl Schedule {
    pub fn new(timing: Timing, now: Instant, wall: SystemTime) -> Schedule {
        Schedule {
            timing,
            burst: None,
            last_write: None,
            cycle_end: None,
            wanted: None,
            errors: 0,
            retry_at: None,
            clock: (now, wall),
            inbox_at: None,
            remotes: Vec::new(),
        }
    }

    pub fn poll(&self) -> Duration {
        self.timing.poll
    }

    /// The policy changed: its timers apply from the next event on.
    pub fn set_timing(&mut self, timing: Timing) {
        self.timing = timing;
    }

    // -- local writes and cycles --

    /// A write in the working tree; `complete` when it left every file of the burst whole
    /// (closed by its writer, renamed into place, removed). `true` when it starts a burst.
    ///
    /// The first write on a quiet watcher, once complete and not followed by another for
    /// `LEAD_QUIET`, is taken at once (the leading edge); any other write waits for the
    /// burst to pause for `delay`, or for `max_wait`, as before.
    pub fn wrote(&mut self, now: Instant, complete: bool) -> bool {
        let quiet = self.quiet(now);
        self.last_write = Some(now);
        match &mut self.burst {
            Some(burst) => {
                burst.last = now;
                burst.complete = complete;
                if now.saturating_duration_since(burst.first) > LEAD_SPAN {
                    burst.lead = false;
                }
                false
            }
            None => {
                self.burst = Some(Burst {
                    first: now,
                    last: now,
                    lead: quiet,
                    complete,
                });
                true
            }
        }
    }

    /// Whether a write now could still be taken on the leading edge (so whether it is worth
    /// checking that its file is whole).
    pub fn may_lead(&self, now: Instant) -> bool {
        match &self.burst {
            Some(b) => b.lead && now.saturating_duration_since(b.first) <= LEAD_SPAN,
            None => self.quiet(now),
        }
    }

    /// No write for `delay` and no cycle that just ended: a write now may be taken on the
    /// leading edge.
    fn quiet(&self, now: Instant) -> bool {
        self.last_write.is_none_or(|t| now >= t + self.timing.delay)
            && self.cycle_end.is_none_or(|t| now >= t + LEAD_QUIET)
    }

    /// Takes the writes of a burst, settled or not (the watcher is stopping): `true` if
    /// there were any.
    pub fn take_writes(&mut self) -> bool {
        self.burst.take().is_some()
    }

    /// Asks for a cycle as soon as writes have settled; a cycle wanted already keeps its
    /// reason.
    pub fn want(&mut self, reason: impl FnOnce() -> String) {
        self.wanted.get_or_insert_with(reason);
    }

    /// When the burst is taken: `LEAD_QUIET` after a complete write on a quiet watcher,
    /// else once writes have paused for `delay`, or gone on for `max_wait`.
    fn settles_at(&self, b: &Burst) -> Instant {
        if b.lead && b.complete {
            b.last + LEAD_QUIET
        } else {
            (b.last + self.timing.delay).min(b.first + self.timing.max_wait)
        }
    }

    /// Local writes came in and have not settled yet.
    fn settling(&self, now: Instant) -> bool {
        self.burst
            .as_ref()
            .is_some_and(|b| now < self.settles_at(b))
    }

    /// The cycle due now, if any, taken: nothing while files are being written (no cycle,
    /// not even for a remote, commits them half-way). After `Writes` that changed nothing, ask
    /// again: the retry may be due as well.
    pub fn due(&mut self, now: Instant) -> Option<Due> {
        if self.settling(now) {
            return None;
        }
        if let Some(reason) = self.wanted.take() {
            self.burst = None;
            return Some(Due::Wanted(reason));
        }
        if self.burst.take().is_some() {
            return Some(Due::Writes);
        }
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            return Some(Due::Retry);
        }
        None
    }

    /// A cycle ended: the error retry, and each remote's next check. Returns the remotes the
    /// cycle could not sync with although they had answered, for the first time in a row.
    pub fn cycle_ended(&mut self, now: Instant, end: &CycleEnd) -> Vec<String> {
        self.cycle_end = Some(now);
        let poll = self.timing.poll;
        let mut first_failures = Vec::new();
        for r in &mut self.remotes {
            let refused = end.offline.contains(&r.name);
            let failed = refused || (!end.reached && r.offline);
            if failed {
                // It answered the last check, yet the cycle could not sync with it (or could
                // not run): try again later and later, not at every check.
                r.offline = true;
                r.failures += 1;
                if r.failures == 1 && refused {
                    first_failures.push(r.name.clone());
                }
                r.resume_at = if r.seen_away {
                    now
                } else {
                    now + backoff(poll, r.failures)
                };
            } else if end.reached {
                r.offline = false;
                r.failures = 0;
            }
            r.next_check = now
                + if failed && r.asked {
                    backoff(poll, r.failures)
                } else {
                    r.every(poll)
                };
        }
        if end.error {
            self.errors += 1;
            self.retry_at = Some(now + backoff(poll, self.errors));
        } else {
            self.errors = 0;
            self.retry_at = None;
        }
        first_failures
    }

    // -- the clock --

    /// Looks at both clocks: a wall clock that moved further than the monotonic one since the
    /// last look was a suspend. Then every remote is checked at once with its failures
    /// forgiven, and a cycle is wanted. Returns how far the clock jumped.
    pub fn tick(&mut self, now: Instant, wall: SystemTime) -> Option<Duration> {
        let (last_mono, last_wall) = std::mem::replace(&mut self.clock, (now, wall));
        let wall_gap = wall.duration_since(last_wall).ok()?;
        let mono_gap = now.duration_since(last_mono);
        if wall_gap <= mono_gap + CLOCK_JUMP {
            return None;
        }
        for r in &mut self.remotes {
            r.failures = 0;
            r.next_check = now;
            r.resume_at = now;
        }
        self.wanted = Some("resumed after a suspend".into());
        Some(wall_gap - mono_gap)
    }

    // -- the inbox --

    /// The inbox folder is watched: no looks by the clock.
    pub fn inbox_watched(&mut self) {
        self.inbox_at = None;
    }

    /// The inbox folder cannot be watched: it is looked at every `poll`. `true` the first
    /// time.
    pub fn inbox_unwatched(&mut self, now: Instant) -> bool {
        self.inbox_at.replace(now + self.timing.poll).is_none()
    }

    pub fn inbox_due(&self, now: Instant) -> bool {
        self.inbox_at.is_some_and(|t| now >= t)
    }

    // -- remotes --

    /// A remote to keep time for, first checked a `poll` from now (one of that name before,
    /// reached another way, starts over).
    pub fn add_remote(&mut self, name: &str, asked: bool, now: Instant) {
        let clock = RemoteClock {
            name: name.to_string(),
            asked,
            notified: false,
            next_check: now + self.timing.poll,
            in_flight: false,
            failures: 0,
            offline: false,
            resume_at: now,
            seen_away: false,
            acted_on: None,
        };
        match self.remotes.iter_mut().find(|r| r.name == name) {
            Some(r) => *r = clock,
            None => self.remotes.push(clock),
        }
    }

    /// Forgets the remotes not named here.
    pub fn keep_remotes<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        let names: Vec<&str> = names.into_iter().collect();
        self.remotes.retain(|r| names.contains(&r.name.as_str()));
    }

    fn remote(&mut self, name: &str) -> Option<&mut RemoteClock> {
        self.remotes.iter_mut().find(|r| r.name == name)
    }

    /// Whether the remote's check is due (none is under way).
    pub fn check_due(&self, name: &str, now: Instant) -> bool {
        self.remotes
            .iter()
            .any(|r| r.name == name && !r.in_flight && r.next_check <= now)
    }

    /// Unreachable at the last check or cycle.
    pub fn is_offline(&self, name: &str) -> bool {
        self.remotes.iter().any(|r| r.name == name && r.offline)
    }

    /// A check starts. One asked over the network answers later ([`Schedule::polled`]); one
    /// read from its files has answered by the next call, and is read again a `poll` later
    /// (a read costs nothing: a local remote that is away resumes as soon as it is back).
    pub fn checking(&mut self, name: &str, now: Instant) {
        let poll = self.timing.poll;
        if let Some(r) = self.remote(name) {
            if r.asked {
                r.in_flight = true;
            } else {
                r.next_check = now + poll;
            }
        }
    }

    /// The remote cannot be read from its files any more (its refs went into a reftable): it
    /// is asked over the network from now on, starting now.
    pub fn asked_from_now(&mut self, name: &str, now: Instant) {
        if let Some(r) = self.remote(name) {
            r.asked = true;
            r.next_check = now;
        }
    }

    /// Its ref files changed: checked at once (unless it is offline: its checks wait).
    pub fn refs_changed(&mut self, name: &str, now: Instant) {
        if let Some(r) = self.remote(name).filter(|r| !r.offline) {
            r.next_check = now;
        }
    }

    /// The answer of a check over the network came (what it said comes next).
    pub fn polled(&mut self, name: &str, now: Instant) {
        let poll = self.timing.poll;
        if let Some(r) = self.remote(name) {
            r.in_flight = false;
            r.next_check = now + r.every(poll);
        }
    }

    /// Whether a notify-wait session with the remote is open.
    pub fn notified(&mut self, name: &str, open: bool) {
        if let Some(r) = self.remote(name) {
            r.notified = open;
        }
    }

    /// Its session is down: checks at the usual pace take over, the next within a `poll`.
    pub fn check_soon(&mut self, name: &str, now: Instant) {
        let poll = self.timing.poll;
        if let Some(r) = self.remote(name) {
            r.next_check = r.next_check.min(now + poll);
        }
    }

    /// The remote did not answer. `true` when it was reachable until now.
    pub fn unreachable(&mut self, name: &str, now: Instant) -> bool {
        let poll = self.timing.poll;
        let Some(r) = self.remote(name) else {
            return false;
        };
        let was_online = !r.offline;
        r.failures += 1;
        r.offline = true;
        // Seen away: the cycle runs as soon as it is seen back.
        r.resume_at = now;
        r.seen_away = true;
        if r.asked {
            r.next_check = now + backoff(poll, r.failures);
        }
        was_online
    }

    /// The remote answered with its tip (`None`: no such branch yet); `tracking` is where the
    /// last fetch left it. A cycle is wanted when it answers again after being away, or moved
    /// to a tip no cycle ran for; `via` says how it was heard, for the reason.
    pub fn reached(
        &mut self,
        name: &str,
        now: Instant,
        tip: Option<&str>,
        tracking: Option<&str>,
        via: &str,
    ) {
        let Some(r) = self.remotes.iter_mut().find(|r| r.name == name) else {
            return;
        };
        r.seen_away = false;
        if r.offline {
            if now >= r.resume_at {
                self.wanted
                    .get_or_insert_with(|| format!("{name} answers again{via}"));
            }
        } else if tip.is_some() && tip != tracking && tip != r.acted_on.as_deref() {
            r.acted_on = tip.map(str::to_string);
            self.wanted
                .get_or_insert_with(|| format!("{name} moved{via}"));
        } else {
            r.failures = 0;
        }
    }

    // -- the next look --

    /// When the loop must look again, at the latest: the end of the debounce, a wanted cycle,
    /// the next remote check, the error retry, the inbox's next look; an idle watcher still
    /// looks every `IDLE_CAP` (a suspend shows then).
    pub fn next_deadline(&self, now: Instant) -> Instant {
        let mut next = now + IDLE_CAP;
        let mut at = |t: Instant| next = next.min(t);
        if self.wanted.is_some() && !self.settling(now) {
            at(now);
        }
        // (A wanted cycle waiting for writes to settle runs at this deadline.)
        if let Some(b) = &self.burst {
            at(self.settles_at(b));
        }
        for r in self.remotes.iter().filter(|r| !r.in_flight) {
            at(r.next_check);
        }
        if let Some(t) = self.retry_at {
            at(t);
        }
        if let Some(t) = self.inbox_at {
            at(t);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAY: Duration = Duration::from_millis(300);
    const MAX_WAIT: Duration = Duration::from_secs(5);
    const POLL: Duration = Duration::from_secs(2);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// The policy's defaults (300ms, 5s, 2s), from a made-up start.
    fn schedule() -> (Schedule, Instant, SystemTime) {
        let (t0, w0) = (Instant::now(), SystemTime::UNIX_EPOCH + secs(1_700_000_000));
        let timing = Timing {
            delay: DELAY,
            max_wait: MAX_WAIT,
            poll: POLL,
        };
        (Schedule::new(timing, t0, w0), t0, w0)
    }

    /// What the loop would do, without waiting: it wakes at each event and at each deadline
    /// the schedule gives, feeds it the events due, and runs the cycle due (writes always
    /// change something here). `cycle_fails` says how each cycle ends, by its number.
    struct Run {
        s: Schedule,
        t0: Instant,
        cycles: Vec<(Duration, Due)>,
        /// Whether each write leaves its file complete (closed, renamed into place); `false`
        /// is a file the watcher cannot tell whole (written and still open, or polled).
        complete: bool,
    }

    impl Run {
        /// Writes the watcher cannot tell complete: the debounce alone.
        fn new() -> Run {
            let (s, t0, _) = schedule();
            Run {
                s,
                t0,
                cycles: Vec::new(),
                complete: false,
            }
        }

        /// Whole files, each written at once (a `write` and a close, or a rename).
        fn complete() -> Run {
            Run {
                complete: true,
                ..Run::new()
            }
        }

        /// Runs until `end` (from the start), with writes at `writes` (sorted).
        fn until(
            &mut self,
            end: Duration,
            writes: &[Duration],
            cycle_fails: impl Fn(usize) -> bool,
        ) {
            let mut writes = writes.iter().peekable();
            let mut now = self.t0;
            while now <= self.t0 + end {
                while writes.peek().is_some_and(|w| self.t0 + **w <= now) {
                    writes.next();
                    self.s.wrote(now, self.complete);
                }
                let due = self.s.due(now);
                let ran = due.is_some();
                if let Some(due) = due {
                    let n = self.cycles.len();
                    self.cycles.push((now - self.t0, due));
                    let end = CycleEnd {
                        error: cycle_fails(n),
                        reached: true,
                        offline: &[],
                    };
                    self.s.cycle_ended(now, &end);
                }
                let wake = self.s.next_deadline(now);
                assert!(
                    wake > now || ran,
                    "the loop would spin at {:?}",
                    now - self.t0
                );
                now = match writes.peek() {
                    Some(w) => wake.min(self.t0 + **w),
                    None => wake,
                };
            }
        }

        fn times(&self) -> Vec<Duration> {
            self.cycles.iter().map(|(t, _)| *t).collect()
        }
    }

    #[test]
    fn a_burst_of_writes_is_one_cycle_once_they_pause() {
        let mut run = Run::new();
        // Ten writes 100ms apart, then quiet.
        let writes: Vec<Duration> = (0..10).map(|i| ms(100 * i)).collect();
        run.until(secs(30), &writes, |_| false);
        assert_eq!(
            run.times(),
            [ms(900) + DELAY],
            "one cycle, `delay` after the last write"
        );
        assert_eq!(run.cycles[0].1, Due::Writes);
    }

    #[test]
    fn writes_that_never_pause_still_sync_every_max_wait() {
        let mut run = Run::new();
        // A write every 200ms for 12s: never a pause of `delay`.
        let writes: Vec<Duration> = (0..60).map(|i| ms(200 * i)).collect();
        run.until(secs(30), &writes, |_| false);
        // The first burst is taken at 5s; the next starts with the write at 5.2s, and so on;
        // the last goes quiet at 11.8s and is taken `delay` later.
        assert_eq!(run.times(), [secs(5), ms(10_200), ms(11_800) + DELAY]);
    }

    #[test]
    fn a_failing_cycle_is_retried_later_and_later_up_to_a_minute_and_a_success_ends_it() {
        let mut run = Run::new();
        // One write; the first six cycles fail, the seventh works.
        run.until(secs(600), &[Duration::ZERO], |n| n < 6);
        let gaps: Vec<Duration> = run.times().windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(
            gaps,
            [secs(4), secs(8), secs(16), secs(32), secs(60), secs(60)]
        );
        assert_eq!(run.cycles[0].1, Due::Writes);
        assert!(run.cycles[1..].iter().all(|(_, due)| *due == Due::Retry));
        assert_eq!(run.cycles.len(), 7, "no retry after the cycle that worked");
    }

    #[test]
    fn a_write_after_an_error_syncs_at_once_and_success_forgets_the_retry() {
        let mut run = Run::new();
        // The first cycle fails (retry due at 0.3s + 4s); a write at 1s is synced 0.3s later,
        // and that cycle works: no retry follows.
        run.until(secs(120), &[Duration::ZERO, secs(1)], |n| n == 0);
        assert_eq!(run.times(), [DELAY, secs(1) + DELAY]);
    }

    #[test]
    fn a_clock_that_jumps_ahead_is_a_suspend_and_wants_a_cycle_and_every_remote_at_once() {
        let (mut s, t0, w0) = schedule();
        s.add_remote("origin", true, t0);
        // Away and failing: its next check is far off.
        for _ in 0..5 {
            s.unreachable("origin", t0);
        }
        assert!(!s.check_due("origin", t0 + secs(30)));
        // Both clocks agree (small drifts are no suspend): nothing.
        assert_eq!(s.tick(t0 + secs(1), w0 + secs(1)), None);
        assert_eq!(s.tick(t0 + secs(2), w0 + secs(7)), None);
        assert_eq!(s.due(t0 + secs(2)), None);
        // The machine slept an hour: the monotonic clock saw a second of it.
        let now = t0 + secs(3);
        assert_eq!(s.tick(now, w0 + secs(7 + 3600)), Some(secs(3599)));
        assert_eq!(s.next_deadline(now), now);
        assert_eq!(
            s.due(now),
            Some(Due::Wanted("resumed after a suspend".into()))
        );
        assert!(s.check_due("origin", now), "the remote is asked at once");
        // A wall clock set back is no suspend.
        assert_eq!(s.tick(now + secs(1), w0), None);
        assert_eq!(s.due(now + secs(1)), None);
    }

    #[test]
    fn a_remote_that_moves_while_writes_settle_waits_for_them_and_both_make_one_cycle() {
        let (mut s, t0, _) = schedule();
        s.add_remote("origin", true, t0);
        s.wrote(t0, false);
        s.wrote(t0 + ms(200), false);
        s.checking("origin", t0 + ms(250));
        s.polled("origin", t0 + ms(250));
        s.reached("origin", t0 + ms(250), Some("b"), Some("a"), "");
        assert_eq!(s.due(t0 + ms(250)), None, "files still being written");
        let settled = t0 + ms(200) + DELAY;
        assert_eq!(s.next_deadline(t0 + ms(250)), settled);
        assert_eq!(s.due(settled), Some(Due::Wanted("origin moved".into())));
        assert_eq!(s.due(settled), None, "the writes went with it");
    }

    #[test]
    fn a_complete_write_on_a_quiet_watcher_is_taken_at_once() {
        let (mut s, t0, _) = schedule();
        assert!(s.wrote(t0, true));
        assert_eq!(s.next_deadline(t0), t0 + LEAD_QUIET);
        assert_eq!(
            s.due(t0 + LEAD_QUIET - ms(1)),
            None,
            "another write may follow"
        );
        assert_eq!(s.due(t0 + LEAD_QUIET), Some(Due::Writes));
        // The same, driven by the loop: one write, one cycle, `LEAD_QUIET` later.
        let mut run = Run::complete();
        run.until(secs(30), &[secs(1)], |_| false);
        assert_eq!(run.times(), [secs(1) + LEAD_QUIET]);
        // Writes far enough apart are each taken at once, as each was taken after `delay`.
        let mut run = Run::complete();
        run.until(secs(30), &[secs(1), secs(2), secs(5)], |_| false);
        assert_eq!(
            run.times(),
            [
                secs(1) + LEAD_QUIET,
                secs(2) + LEAD_QUIET,
                secs(5) + LEAD_QUIET
            ]
        );
    }

    #[test]
    fn a_half_written_file_waits_for_the_debounce_and_its_close_takes_it() {
        // Written and still open: `delay` after its last write, as before.
        let (mut s, t0, _) = schedule();
        s.wrote(t0, false);
        assert_eq!(s.next_deadline(t0), t0 + DELAY);
        assert_eq!(s.due(t0 + LEAD_QUIET), None);
        assert_eq!(s.due(t0 + ms(299)), None);
        assert_eq!(s.due(t0 + DELAY), Some(Due::Writes));
        // Written, then closed by its writer a moment later: taken once the close is quiet.
        let (mut s, t0, _) = schedule();
        s.wrote(t0, false);
        s.wrote(t0 + ms(2), true);
        assert_eq!(s.next_deadline(t0 + ms(2)), t0 + ms(2) + LEAD_QUIET);
        assert_eq!(s.due(t0 + ms(2) + LEAD_QUIET), Some(Due::Writes));
        // Closed, then opened again and written: no longer complete, the debounce again.
        let (mut s, t0, _) = schedule();
        s.wrote(t0, true);
        s.wrote(t0 + ms(5), false);
        assert_eq!(s.due(t0 + ms(5) + LEAD_QUIET), None);
        assert_eq!(s.next_deadline(t0 + ms(5)), t0 + ms(5) + DELAY);
    }

    #[test]
    fn a_burst_of_complete_writes_debounces_as_before_and_makes_one_commit() {
        // A hundred whole writes 3ms apart (a writer in a loop): one cycle, `delay` after the
        // last, as without the leading edge.
        let (mut s, t0, _) = schedule();
        assert!(s.may_lead(t0));
        s.wrote(t0, true);
        assert!(
            s.may_lead(t0 + ms(3)),
            "a second write may still be part of one"
        );
        s.wrote(t0 + ms(3), true);
        assert!(!s.may_lead(t0 + ms(60)), "spread over LEAD_SPAN: a burst");
        let writes: Vec<Duration> = (0..100).map(|i| ms(3 * i)).collect();
        let mut run = Run::complete();
        run.until(secs(30), &writes, |_| false);
        assert_eq!(run.times(), [ms(297) + DELAY]);
        // Ten writes 100ms apart: the first is alone long enough to be taken at once; the
        // others came while it was taken or right after: one burst, debounced.
        let writes: Vec<Duration> = (0..10).map(|i| ms(100 * i)).collect();
        let mut run = Run::complete();
        run.until(secs(30), &writes, |_| false);
        assert_eq!(run.times(), [LEAD_QUIET, ms(900) + DELAY]);
        // A write every 200ms for 12s: the first at once, then `max_wait` as before.
        let writes: Vec<Duration> = (0..60).map(|i| ms(200 * i)).collect();
        let mut run = Run::complete();
        run.until(secs(30), &writes, |_| false);
        assert_eq!(
            run.times(),
            [LEAD_QUIET, ms(5_200), ms(10_400), ms(11_800) + DELAY]
        );
    }

    #[test]
    fn a_write_right_after_a_cycle_debounces_it_may_be_the_cycles_own() {
        let (mut s, t0, _) = schedule();
        let end = CycleEnd {
            error: false,
            reached: true,
            offline: &[],
        };
        // A cycle for a remote that moved: its merge wrote the working tree, and those events
        // are read right after it ends.
        s.cycle_ended(t0, &end);
        s.wrote(t0 + ms(1), true);
        assert_eq!(s.due(t0 + ms(1) + LEAD_QUIET), None);
        assert_eq!(s.next_deadline(t0 + ms(1)), t0 + ms(1) + DELAY);
        assert_eq!(s.due(t0 + ms(1) + DELAY), Some(Due::Writes));
        // Once the watcher is quiet again, a write is taken at once.
        let later = t0 + secs(2);
        s.wrote(later, true);
        assert_eq!(s.due(later + LEAD_QUIET), Some(Due::Writes));
    }

    #[test]
    fn a_write_soon_after_a_burst_is_part_of_the_writing_and_debounces() {
        let (mut s, t0, _) = schedule();
        s.wrote(t0, false);
        assert_eq!(s.due(t0 + DELAY), Some(Due::Writes));
        // 100ms after the last write: not quiet yet (no cycle ran: the writes changed
        // nothing), so the debounce.
        s.wrote(t0 + ms(100), true);
        assert_eq!(s.due(t0 + ms(100) + LEAD_QUIET), None);
        assert_eq!(s.due(t0 + ms(100) + DELAY), Some(Due::Writes));
    }

    #[test]
    fn a_remote_that_moves_during_a_leading_write_waits_for_it_too() {
        let (mut s, t0, _) = schedule();
        s.add_remote("origin", true, t0);
        s.wrote(t0, true);
        s.checking("origin", t0 + ms(5));
        s.polled("origin", t0 + ms(5));
        s.reached("origin", t0 + ms(5), Some("b"), Some("a"), "");
        assert_eq!(s.due(t0 + ms(5)), None, "the write is settling");
        assert_eq!(s.next_deadline(t0 + ms(5)), t0 + LEAD_QUIET);
        assert_eq!(
            s.due(t0 + LEAD_QUIET),
            Some(Due::Wanted("origin moved".into()))
        );
        assert_eq!(s.due(t0 + LEAD_QUIET), None, "the write went with it");
    }

    #[test]
    fn an_idle_watcher_sleeps_a_minute_at_most() {
        let (s, t0, _) = schedule();
        assert_eq!(s.next_deadline(t0), t0 + IDLE_CAP);
    }

    #[test]
    fn stopping_takes_writes_still_settling() {
        let (mut s, t0, _) = schedule();
        assert!(!s.take_writes());
        assert!(s.wrote(t0, true), "the first write starts a burst");
        assert!(!s.wrote(t0 + ms(10), true));
        assert!(s.take_writes());
        assert_eq!(s.due(t0 + secs(1)), None, "taken: no cycle for them later");
    }

    #[test]
    fn a_polled_remote_is_asked_every_poll_and_a_move_is_one_cycle_per_tip() {
        let (mut s, t0, _) = schedule();
        s.add_remote("origin", true, t0);
        assert_eq!(s.next_deadline(t0), t0 + POLL);
        assert!(!s.check_due("origin", t0 + ms(1999)));
        let now = t0 + POLL;
        assert!(s.check_due("origin", now));
        s.checking("origin", now);
        assert!(!s.check_due("origin", now), "one check at a time");
        assert_eq!(
            s.next_deadline(now),
            now + IDLE_CAP,
            "its deadline waits for the answer"
        );
        s.polled("origin", now + ms(100));
        s.reached("origin", now + ms(100), Some("b"), Some("a"), "");
        assert_eq!(
            s.due(now + ms(100)),
            Some(Due::Wanted("origin moved".into()))
        );
        // The cycle failed to fetch it (an error): the same tip asks for no second cycle.
        s.reached("origin", now + ms(200), Some("b"), Some("a"), "");
        assert_eq!(s.due(now + ms(200)), None);
        assert_eq!(s.next_deadline(now + ms(200)), now + ms(100) + POLL);
        // Where the tracking ref stands already is no news either.
        s.reached("origin", now + ms(300), Some("a"), Some("a"), " (notified)");
        assert_eq!(s.due(now + ms(300)), None);
        s.reached("origin", now + ms(400), Some("c"), Some("a"), " (notified)");
        assert_eq!(
            s.due(now + ms(400)),
            Some(Due::Wanted("origin moved (notified)".into()))
        );
    }

    #[test]
    fn an_unreachable_remote_is_asked_later_and_later_and_its_return_is_a_cycle() {
        let (mut s, t0, _) = schedule();
        s.add_remote("hub", true, t0);
        let mut now = t0 + POLL;
        let mut waits = Vec::new();
        for i in 0..7 {
            assert!(s.check_due("hub", now));
            s.checking("hub", now);
            s.polled("hub", now);
            assert_eq!(s.unreachable("hub", now), i == 0, "said once");
            let next = s.next_deadline(now);
            waits.push(next - now);
            now = next;
        }
        assert_eq!(
            waits,
            [
                secs(4),
                secs(8),
                secs(16),
                secs(32),
                secs(60),
                secs(60),
                secs(60)
            ]
        );
        assert_eq!(s.due(now), None, "no cycle for a remote that is away");
        s.checking("hub", now);
        s.polled("hub", now);
        s.reached("hub", now, Some("a"), Some("a"), "");
        assert_eq!(s.due(now), Some(Due::Wanted("hub answers again".into())));
        // The cycle synced with it: asked every poll again.
        let end = CycleEnd {
            error: false,
            reached: true,
            offline: &[],
        };
        assert!(s.cycle_ended(now, &end).is_empty());
        assert_eq!(s.next_deadline(now), now + POLL);
    }

    #[test]
    fn a_remote_that_answers_but_takes_nothing_is_not_cycled_for_at_every_check() {
        let (mut s, t0, _) = schedule();
        s.add_remote("peer", true, t0);
        let offline = ["peer".to_string()];
        let end = CycleEnd {
            error: false,
            reached: true,
            offline: &offline,
        };
        assert_eq!(
            s.cycle_ended(t0, &end),
            ["peer"],
            "the first failure is named"
        );
        assert_eq!(s.next_deadline(t0), t0 + backoff(POLL, 1));
        // Its session says it answers, a second later: before the backoff is over, no cycle.
        s.reached("peer", t0 + secs(1), Some("a"), Some("a"), " (notified)");
        assert_eq!(s.due(t0 + secs(1)), None);
        // It answers its next check, once the backoff is over: a cycle.
        let check = t0 + backoff(POLL, 1);
        s.checking("peer", check);
        s.polled("peer", check);
        s.reached("peer", check, Some("a"), Some("a"), "");
        assert_eq!(s.due(check), Some(Due::Wanted("peer answers again".into())));
        assert!(s.cycle_ended(check, &end).is_empty(), "named once");
        assert_eq!(s.next_deadline(check), check + backoff(POLL, 2));
    }

    #[test]
    fn an_open_session_slows_the_checks_to_the_safety_net_and_a_lost_one_brings_them_back() {
        let (mut s, t0, _) = schedule();
        s.add_remote("hub", true, t0);
        s.notified("hub", true);
        s.checking("hub", t0 + POLL);
        s.polled("hub", t0 + POLL);
        assert_eq!(s.next_deadline(t0 + POLL), t0 + POLL + SAFETY_POLL);
        let lost = t0 + secs(10);
        s.notified("hub", false);
        s.check_soon("hub", lost);
        assert_eq!(s.next_deadline(lost), lost + POLL);
        s.checking("hub", lost + POLL);
        s.polled("hub", lost + POLL);
        assert_eq!(s.next_deadline(lost + POLL), lost + POLL + POLL);
    }

    #[test]
    fn a_remote_on_a_path_is_read_every_poll_and_at_once_when_its_refs_change() {
        let (mut s, t0, _) = schedule();
        s.add_remote("laptop", false, t0);
        s.refs_changed("laptop", t0 + ms(500));
        assert!(s.check_due("laptop", t0 + ms(500)));
        s.checking("laptop", t0 + ms(500));
        assert_eq!(s.next_deadline(t0 + ms(500)), t0 + ms(500) + POLL);
        // Away: read every poll all the same (no backoff), and its ref files wait.
        s.unreachable("laptop", t0 + ms(500));
        assert!(s.is_offline("laptop"));
        assert_eq!(s.next_deadline(t0 + ms(500)), t0 + ms(500) + POLL);
        s.refs_changed("laptop", t0 + secs(1));
        assert!(!s.check_due("laptop", t0 + secs(1)));
        // Its refs went into a reftable: asked over the network from now on.
        s.asked_from_now("laptop", t0 + secs(1));
        assert!(s.check_due("laptop", t0 + secs(1)));
        s.checking("laptop", t0 + secs(1));
        assert!(
            !s.check_due("laptop", t0 + secs(10)),
            "waiting for its answer"
        );
    }

    #[test]
    fn remotes_that_go_away_are_forgotten_and_a_new_one_starts_over() {
        let (mut s, t0, _) = schedule();
        s.add_remote("a", true, t0);
        s.add_remote("b", true, t0);
        s.unreachable("a", t0);
        s.keep_remotes(["a"]);
        assert!(!s.check_due("b", t0 + secs(60)));
        // `a` reached another way: a new clock.
        s.add_remote("a", false, t0 + secs(1));
        assert!(!s.is_offline("a"));
        assert_eq!(s.next_deadline(t0 + secs(1)), t0 + secs(1) + POLL);
    }

    #[test]
    fn without_file_events_the_inbox_is_looked_at_every_poll() {
        let (mut s, t0, _) = schedule();
        assert!(s.inbox_unwatched(t0), "said the first time");
        assert!(!s.inbox_due(t0 + ms(1999)));
        assert!(s.inbox_due(t0 + POLL));
        assert!(!s.inbox_unwatched(t0 + POLL));
        assert_eq!(s.next_deadline(t0 + POLL), t0 + POLL + POLL);
        s.inbox_watched();
        assert!(!s.inbox_due(t0 + secs(60)));
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let poll = Duration::from_secs(2);
        assert_eq!(backoff(poll, 1), Duration::from_secs(4));
        assert_eq!(backoff(poll, 3), Duration::from_secs(16));
        assert_eq!(backoff(poll, 10), Duration::from_secs(60));
    }
}
