//! One budget for untrusted content. Every byte a build stored is an attacker's, so every
//! reader of artifact bytes (logs, JSON, JUnit, archive indexes and members, image decodes and
//! comparisons) works against a [`Budget`] that it consults while it reads: bytes read, bytes it
//! holds (counted by the reader as it keeps them), bytes of output, elements (cases, members,
//! runs) and a deadline. A reader that reaches a limit stops there and says where.
//!
//! Heavy work (decodes, inflation, indexing, parsing) runs through [`HeavyWork`]: a few permits
//! per kind of work; when they are all taken the answer is [`ServiceError::Busy`] (503 with
//! `Retry-After`), never a queue that grows with the requests. Work whose caller went away is
//! told so through its budget and stops at its next check.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::{ServiceError, ServiceResult};

/// The limits of one piece of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes read from the artifact (after inflation, for compressed input).
    pub read: u64,
    /// Bytes the reader keeps at once.
    pub held: u64,
    /// Bytes of what it makes (a preview's text, a difference image's pixels).
    pub output: u64,
    /// Elements: test cases, archive members, styled runs, JSON values.
    pub elements: u64,
    /// Wall time, from the budget's start.
    pub time: Duration,
}

impl Limits {
    /// No limit but a minute: for tests of what a reader makes, not of where it stops.
    pub const ROOMY: Limits =
        Limits { read: u64::MAX, held: u64::MAX, output: u64::MAX, elements: u64::MAX, time: Duration::from_secs(60) };
}

/// What stopped a reader: shown to the person who opened the file, so it says what the limit
/// was in their words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Read(u64),
    Held(u64),
    Output(u64),
    Elements(u64),
    Time(Duration),
    /// The caller went away.
    Cancelled,
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exceeded::Read(n) => write!(f, "it is longer than the {} that are read of it", bytes(*n)),
            Exceeded::Held(n) => write!(f, "reading it would take more than {} of memory", bytes(*n)),
            Exceeded::Output(n) => write!(f, "what it shows would be larger than {}", bytes(*n)),
            Exceeded::Elements(n) => write!(f, "it holds more than {n} entries"),
            Exceeded::Time(t) => write!(f, "reading it takes longer than {} s", t.as_secs_f64()),
            Exceeded::Cancelled => f.write_str("nobody waits for it any more"),
        }
    }
}

impl std::error::Error for Exceeded {}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// How often (in calls) the clock and the cancel flag are looked at.
const CHECK_EVERY: u32 = 256;

/// What a piece of work has used of its [`Limits`]. Counting is the reader's job: it calls
/// [`Budget::read`] for what it reads, [`Budget::hold`] for what it keeps, [`Budget::emit`] for
/// what it writes and [`Budget::element`] for each element, and stops at the first `Err`.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    read: u64,
    held: u64,
    output: u64,
    elements: u64,
    deadline: Instant,
    cancelled: Arc<AtomicBool>,
    calls: u32,
}

impl Budget {
    pub fn new(limits: Limits) -> Budget {
        Budget {
            limits,
            read: 0,
            held: 0,
            output: 0,
            elements: 0,
            deadline: Instant::now() + limits.time,
            cancelled: Arc::new(AtomicBool::new(false)),
            calls: 0,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn add(used: &mut u64, n: usize, limit: u64, exceeded: Exceeded) -> Result<(), Exceeded> {
        let total = used.saturating_add(n as u64);
        if total > limit {
            return Err(exceeded);
        }
        *used = total;
        Ok(())
    }

    pub fn read(&mut self, n: usize) -> Result<(), Exceeded> {
        Self::add(&mut self.read, n, self.limits.read, Exceeded::Read(self.limits.read))?;
        self.tick()
    }

    pub fn hold(&mut self, n: usize) -> Result<(), Exceeded> {
        Self::add(&mut self.held, n, self.limits.held, Exceeded::Held(self.limits.held))
    }

    /// What the reader kept and let go of again.
    pub fn release(&mut self, n: usize) {
        self.held = self.held.saturating_sub(n as u64);
    }

    pub fn emit(&mut self, n: usize) -> Result<(), Exceeded> {
        Self::add(&mut self.output, n, self.limits.output, Exceeded::Output(self.limits.output))
    }

    pub fn element(&mut self) -> Result<(), Exceeded> {
        Self::add(&mut self.elements, 1, self.limits.elements, Exceeded::Elements(self.limits.elements))?;
        self.tick()
    }

    /// Looks at the clock and the cancel flag every few calls.
    pub fn tick(&mut self) -> Result<(), Exceeded> {
        self.calls = self.calls.wrapping_add(1);
        if self.calls.is_multiple_of(CHECK_EVERY) { self.check() } else { Ok(()) }
    }

    /// Looks at the clock and the cancel flag now.
    pub fn check(&self) -> Result<(), Exceeded> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Exceeded::Cancelled);
        }
        if Instant::now() > self.deadline {
            return Err(Exceeded::Time(self.limits.time));
        }
        Ok(())
    }

    pub fn used_read(&self) -> u64 {
        self.read
    }

    pub fn used_output(&self) -> u64 {
        self.output
    }

    pub fn used_elements(&self) -> u64 {
        self.elements
    }

    /// Tells the work to stop when dropped, unless disarmed: held by the caller that awaits it.
    fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(Some(self.cancelled.clone()))
    }
}

struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// The kinds of heavy work, each with permits of its own: a flood of one kind leaves the
/// others (and the rest of the server) their share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Work {
    /// Image decodes and pixel comparisons.
    Decode,
    /// Archive indexes (a zip's central directory, a tar's headers).
    Index,
    /// Inflating a member of a zip or a tar.gz.
    Inflate,
    /// Previews: text and logs, JSON, JUnit.
    Parse,
    /// Folders written as zips for download (text deflated as it goes).
    Zip,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Decode => "image comparisons",
            Work::Index => "archive indexes",
            Work::Inflate => "archive reads",
            Work::Parse => "previews",
            Work::Zip => "folder downloads",
        }
    }
}

/// Seconds a client is told to wait when every permit of a kind is taken.
pub const BUSY_RETRY_AFTER: u64 = 2;

/// Permits for heavy work, per kind (see [`Work`]).
#[derive(Clone)]
pub struct HeavyWork {
    decode: Arc<Semaphore>,
    index: Arc<Semaphore>,
    inflate: Arc<Semaphore>,
    parse: Arc<Semaphore>,
    zip: Arc<Semaphore>,
}

impl Default for HeavyWork {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        HeavyWork::new(cores.max(2))
    }
}

impl HeavyWork {
    /// Decodes and indexes (the memory-hungry kinds) get `cores` permits each; previews twice
    /// as many; archive reads and folder zips, which stream at their clients' pace (a report's
    /// page loads its files a few at a time), eight and four times as many.
    pub fn new(cores: usize) -> HeavyWork {
        HeavyWork {
            decode: Arc::new(Semaphore::new(cores)),
            index: Arc::new(Semaphore::new(cores)),
            inflate: Arc::new(Semaphore::new(8 * cores)),
            parse: Arc::new(Semaphore::new(2 * cores)),
            zip: Arc::new(Semaphore::new(4 * cores)),
        }
    }

    fn semaphore(&self, kind: Work) -> &Arc<Semaphore> {
        match kind {
            Work::Decode => &self.decode,
            Work::Index => &self.index,
            Work::Inflate => &self.inflate,
            Work::Parse => &self.parse,
            Work::Zip => &self.zip,
        }
    }

    /// A permit for work of `kind` done in the caller's task (streamed work), or Busy.
    pub fn permit(&self, kind: Work) -> ServiceResult<OwnedSemaphorePermit> {
        self.semaphore(kind).clone().try_acquire_owned().map_err(|_| ServiceError::Busy {
            message: format!("The server is busy with other {}; try again in a few seconds", kind.name()),
            retry_after: BUSY_RETRY_AFTER,
        })
    }

    /// Runs `work` on the blocking pool under a permit of `kind`, against `budget`. When the
    /// caller stops waiting (its client went away), the work is told through its budget and
    /// stops at its next check.
    pub async fn run<T, F>(&self, kind: Work, budget: Budget, work: F) -> ServiceResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Budget) -> T + Send + 'static,
    {
        let permit = self.permit(kind)?;
        self.blocking(permit, budget, work).await
    }

    /// [`HeavyWork::run`] under a permit taken before (so that what waited for it, such as
    /// reading the bytes, held nothing while the server was busy).
    pub async fn blocking<T, F>(&self, permit: OwnedSemaphorePermit, mut budget: Budget, work: F) -> ServiceResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Budget) -> T + Send + 'static,
    {
        let cancel = budget.cancel_on_drop();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&mut budget)
        })
        .await
        .map_err(|e| ServiceError::Internal(e.into()));
        cancel.disarm();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { read: 100, held: 50, output: 400, elements: 3, time: Duration::from_secs(60) }
    }

    #[test]
    fn each_limit_stops_the_reader_and_says_which() {
        let mut b = Budget::new(limits());
        assert_eq!(b.read(60), Ok(()));
        assert_eq!(b.read(41), Err(Exceeded::Read(100)));
        assert_eq!(b.used_read(), 60, "what was refused is not counted");
        assert_eq!(b.hold(50), Ok(()));
        assert_eq!(b.hold(1), Err(Exceeded::Held(50)));
        b.release(20);
        assert_eq!(b.hold(20), Ok(()));
        assert_eq!(b.emit(400), Ok(()));
        assert_eq!(b.emit(1), Err(Exceeded::Output(400)));
        for _ in 0..3 {
            assert_eq!(b.element(), Ok(()));
        }
        assert_eq!(b.element(), Err(Exceeded::Elements(3)));
        assert_eq!(Exceeded::Held(64 << 20).to_string(), "reading it would take more than 64 MiB of memory");
        assert_eq!(Exceeded::Elements(5).to_string(), "it holds more than 5 entries");
    }

    #[test]
    fn the_deadline_is_checked_while_reading() {
        let mut b = Budget::new(Limits { time: Duration::ZERO, elements: u64::MAX, ..limits() });
        std::thread::sleep(Duration::from_millis(2));
        let stopped = (0..CHECK_EVERY).map(|_| b.element()).find(Result::is_err);
        assert_eq!(stopped, Some(Err(Exceeded::Time(Duration::ZERO))));
    }

    #[tokio::test]
    async fn work_stops_when_its_caller_goes_away_and_permits_run_out() {
        let heavy = HeavyWork::new(1);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (stopped_tx, stopped_rx) = std::sync::mpsc::channel();
        let budget = Budget::new(Limits { elements: u64::MAX, ..limits() });
        let worker = heavy.clone();
        let running = async move {
            worker
                .run(Work::Decode, budget, move |b| {
                    started_tx.send(()).unwrap();
                    let why = loop {
                        if let Err(e) = b.element() {
                            break e;
                        }
                        std::thread::sleep(Duration::from_micros(10));
                    };
                    stopped_tx.send(why).unwrap();
                })
                .await
        };
        let caller = tokio::spawn(running);
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap()).await.unwrap();
        // Its one permit is taken: the next decode is refused at once, other kinds still run.
        let busy = heavy.permit(Work::Decode).unwrap_err();
        assert!(matches!(busy, ServiceError::Busy { retry_after: BUSY_RETRY_AFTER, .. }), "{busy:?}");
        assert!(heavy.permit(Work::Parse).is_ok());
        caller.abort();
        let why = tokio::task::spawn_blocking(move || stopped_rx.recv_timeout(Duration::from_secs(10)).unwrap());
        assert_eq!(why.await.unwrap(), Exceeded::Cancelled);
    }
}
