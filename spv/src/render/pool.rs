//! The bounded render pool: CPU work off the async worker threads, never unbounded.
//!
//! Rendering (and parsing, and encoding) is CPU-bound, so it must not run on Tokio's
//! async worker threads. [`RenderPool::run`] waits a bounded time for one of a fixed
//! number of slots (a semaphore permit), then runs the work with
//! [`tokio::task::spawn_blocking`], the permit moved into the blocking closure: a slot is
//! given back only when the work ends, even if the caller stopped waiting for it. When no
//! slot frees up within the queue timeout the caller gets [`ErrorKind::Overloaded`]
//! instead of piling up (the HTTP layer answers 503 with `Retry-After`).
//!
//! ```
//! use spv::render::pool::RenderPool;
//!
//! let pool = RenderPool::new(2);
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let answer = rt.block_on(pool.run(|| Ok(6 * 7))).unwrap();
//! assert_eq!(answer, 42);
//! assert_eq!((pool.size(), pool.in_use(), pool.available()), (2, 0, 2));
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::{Error, ErrorKind, Result};

/// How long [`RenderPool::run`] waits for a free slot by default.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bounded pool of render slots on Tokio's blocking threads.
///
/// Cheap to clone: clones share the same slots.
#[derive(Clone, Debug)]
pub struct RenderPool {
    semaphore: Arc<Semaphore>,
    size: usize,
    queue_timeout: Duration,
}

impl Default for RenderPool {
    /// A pool with one slot per core and [`DEFAULT_QUEUE_TIMEOUT`].
    fn default() -> Self {
        RenderPool::new(RenderPool::default_size())
    }
}

impl RenderPool {
    /// A pool running at most `size` jobs at once (at least 1), with
    /// [`DEFAULT_QUEUE_TIMEOUT`].
    pub fn new(size: usize) -> Self {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        RenderPool {
            semaphore: Arc::new(Semaphore::new(size)),
            size,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
        }
    }

    /// The default size: the number of cores ([`std::thread::available_parallelism`]),
    /// 1 when that is unknown.
    pub fn default_size() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// Sets how long [`run`](Self::run) waits for a free slot before it gives up with
    /// [`ErrorKind::Overloaded`].
    pub fn with_queue_timeout(mut self, queue_timeout: Duration) -> Self {
        self.queue_timeout = queue_timeout;
        self
    }

    /// How many jobs may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How long [`run`](Self::run) waits for a free slot.
    pub fn queue_timeout(&self) -> Duration {
        self.queue_timeout
    }

    /// Slots free right now (for metrics).
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// Slots taken right now by running jobs (for metrics).
    pub fn in_use(&self) -> usize {
        self.size.saturating_sub(self.available())
    }

    /// Runs `f` on a blocking thread once a slot is free, and returns its result.
    ///
    /// The returned future is `Send + 'static` (it holds a clone of the pool, not a
    /// borrow) and must be polled inside a Tokio runtime with the time driver enabled
    /// (as `Runtime::new()` and `#[tokio::main]` make). Errors: [`ErrorKind::Overloaded`]
    /// when no slot frees up within the queue timeout, [`ErrorKind::Internal`] when `f`
    /// panics or no runtime is running; otherwise whatever `f` returns.
    pub fn run<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let pool = self.clone();
        async move {
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(Error::internal(
                    "the render pool was used outside a tokio runtime",
                ));
            }
            let acquire = pool.semaphore.clone().acquire_owned();
            let permit = match tokio::time::timeout(pool.queue_timeout, acquire).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_closed)) => return Err(Error::internal("the render pool is closed")),
                Err(_elapsed) => {
                    return Err(Error::new(
                        ErrorKind::Overloaded,
                        format!(
                            "render pool is saturated: all {} render slots stayed busy for {} ms; try again later",
                            pool.size,
                            pool.queue_timeout.as_millis()
                        ),
                    ));
                }
            };
            let task = tokio::task::spawn_blocking(move || {
                // Released when the work ends, not when the caller stops waiting.
                let _permit = permit;
                f()
            });
            match task.await {
                Ok(result) => result,
                Err(err) if err.is_panic() => {
                    let payload = err.into_panic();
                    let what = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".to_string());
                    Err(Error::internal(format!("a render task panicked: {what}")))
                }
                Err(err) => Err(Error::internal(format!("a render task failed: {err}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex};

    /// A door the blocking jobs wait at until the test opens it.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        cond: Condvar,
    }

    impl Gate {
        fn wait(&self) {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.cond.wait(open).unwrap();
            }
        }

        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.cond.notify_all();
        }
    }

    fn assert_send_static<T: Send + 'static>(_: &T) {}

    #[test]
    fn run_future_is_send_and_static() {
        let pool = RenderPool::new(1);
        let fut = pool.run(|| Ok(1u8));
        assert_send_static(&fut);
        drop(pool);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrency_never_exceeds_the_pool_size() {
        const SLOTS: usize = 3;
        const JOBS: usize = SLOTS + 1;
        let pool = RenderPool::new(SLOTS).with_queue_timeout(Duration::from_secs(60));
        let running = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Gate::default());
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();

        let mut handles = Vec::new();
        for i in 0..JOBS {
            let (running, max, gate) = (running.clone(), max.clone(), gate.clone());
            let started_tx = started_tx.clone();
            handles.push(tokio::spawn(pool.run(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                started_tx.send(i).unwrap();
                gate.wait();
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(i)
            })));
        }
        // Wait until the pool is full: SLOTS jobs running and blocked at the gate.
        for _ in 0..SLOTS {
            started_rx.recv().await.unwrap();
        }
        assert_eq!(pool.in_use(), SLOTS, "slots in use while the pool is full");
        assert_eq!(pool.available(), 0, "free slots while the pool is full");
        assert_eq!(running.load(Ordering::SeqCst), SLOTS, "jobs running");

        gate.open();
        let mut done = Vec::new();
        for handle in handles {
            done.push(handle.await.unwrap().unwrap());
        }
        done.sort_unstable();
        assert_eq!(done, (0..JOBS).collect::<Vec<_>>());
        assert_eq!(
            max.load(Ordering::SeqCst),
            SLOTS,
            "most jobs seen running at once"
        );
        assert_eq!(pool.available(), SLOTS, "every slot is given back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_pool_answers_overloaded_after_the_queue_timeout() {
        let pool = RenderPool::new(1).with_queue_timeout(Duration::from_millis(20));
        let gate = Arc::new(Gate::default());
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
        let busy = {
            let gate = gate.clone();
            tokio::spawn(pool.run(move || {
                started_tx.send(()).unwrap();
                gate.wait();
                Ok("first")
            }))
        };
        started_rx.recv().await.unwrap();

        let err = pool.run(|| Ok("second")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Overloaded);
        assert!(
            err.to_string().starts_with("render pool is saturated"),
            "got: {err}"
        );

        gate.open();
        assert_eq!(busy.await.unwrap().unwrap(), "first");
        assert_eq!(pool.run(|| Ok("third")).await.unwrap(), "third");
    }

    #[tokio::test]
    async fn a_panic_becomes_an_internal_error_and_frees_the_slot() {
        let pool = RenderPool::new(1);
        let err = pool
            .run(|| -> Result<()> { panic!("boom") })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert_eq!(err.to_string(), "a render task panicked: boom");
        assert_eq!(pool.available(), 1);
    }

    #[tokio::test]
    async fn errors_of_the_job_pass_through() {
        let pool = RenderPool::new(1);
        let err = pool
            .run(|| -> Result<()> { Err(Error::invalid_request("no")) })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_slot_stays_taken_until_the_work_ends_even_if_the_caller_gives_up() {
        let pool = RenderPool::new(1).with_queue_timeout(Duration::from_secs(60));
        let gate = Arc::new(Gate::default());
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
        let caller = {
            let gate = gate.clone();
            tokio::spawn(pool.run(move || {
                started_tx.send(()).unwrap();
                gate.wait();
                Ok(())
            }))
        };
        started_rx.recv().await.unwrap();
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        assert_eq!(pool.in_use(), 1, "the abandoned job still holds its slot");

        gate.open();
        // Completes only once the abandoned job has ended and given its slot back.
        pool.run(|| Ok(())).await.unwrap();
        assert_eq!(pool.available(), 1);
    }

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        let pool = RenderPool::new(1);
        let fut = pool.run(|| Ok(()));
        // A runtime without Tokio: poll once by hand.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut fut = std::pin::pin!(fut);
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Err(err)) => assert_eq!(err.kind(), ErrorKind::Internal),
            other => panic!(
                "expected an internal error, got {:?}",
                other.map(|r| r.is_ok())
            ),
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(RenderPool::new(0).size(), 1, "a pool has at least one slot");
        assert!(RenderPool::default().size() >= 1);
        assert_eq!(RenderPool::default().queue_timeout(), DEFAULT_QUEUE_TIMEOUT);
    }
}
