//! A persistent thread pool for the forward pass: workers are spawned once and reused for every
//! matmul, so no thread is created per operation. `run(n, f)` calls `f(i)` for every `i < n`,
//! spread across the caller and the workers, and returns when all calls have finished.
//!
//! Workers spin briefly on an atomic job counter before sleeping on a condvar, so back-to-back
//! operations during decoding do not pay a wake-up each time.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// A job as the workers see it: a type-erased pointer to the caller's closure.
#[derive(Clone, Copy)]
struct Job {
    f: *const (dyn Fn(usize) + Sync),
    n: usize,
}

// SAFETY: the closure behind `f` is `Sync`, and `run` keeps it alive until every worker has
// finished with it (see `run`).
unsafe impl Send for Job {}

struct Shared {
    /// Incremented for each new job; workers watch it.
    epoch: AtomicUsize,
    /// Next task index to claim.
    next: AtomicUsize,
    /// Workers still inside the current job.
    active: AtomicUsize,
    job: Mutex<Option<Job>>,
    wake: Condvar,
    shutdown: AtomicUsize,
}

pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    lock: Mutex<()>,
}

impl Pool {
    /// A pool running jobs on `threads` threads in all (the caller plus `threads − 1` workers).
    /// Fails only when the operating system refuses to start a thread.
    pub fn new(threads: usize) -> std::io::Result<Pool> {
        let shared = Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            job: Mutex::new(None),
            wake: Condvar::new(),
            shutdown: AtomicUsize::new(0),
        });
        let mut pool = Pool {
            shared,
            workers: Vec::new(),
            lock: Mutex::new(()),
        };
        for i in 1..threads.max(1) {
            let s = pool.shared.clone();
            // On failure, dropping `pool` stops the workers already started.
            pool.workers.push(
                std::thread::Builder::new()
                    .name(format!("brisk-worker-{i}"))
                    .spawn(move || worker(&s))?,
            );
        }
        Ok(pool)
    }

    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Call `f(i)` for every `i` in `0..n` across the pool; returns when all have run.
    pub fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        if n == 0 {
            return;
        }
        if self.workers.is_empty() || n == 1 {
            (0..n).for_each(f);
            return;
        }
        // One job at a time per pool.
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let s = &*self.shared;
        // SAFETY: erases the closure's lifetime; it outlives the job because this function does
        // not return until `active` is back to zero, i.e. no worker still holds the pointer.
        let job: Job = unsafe {
            Job {
                f: std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(
                    f,
                ),
                n,
            }
        };
        s.next.store(0, Ordering::SeqCst);
        s.active.store(self.workers.len(), Ordering::SeqCst);
        {
            // Publish the job and the new epoch under the lock a sleeping worker checks them
            // under, so no wake-up is lost between its check and its wait.
            let mut slot = s.job.lock().unwrap_or_else(|e| e.into_inner());
            *slot = Some(job);
            s.epoch.fetch_add(1, Ordering::SeqCst);
        }
        s.wake.notify_all();
        claim_tasks(s, job);
        while s.active.load(Ordering::Acquire) != 0 {
            std::hint::spin_loop();
        }
        *s.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Run tasks of `job` until none are left.
fn claim_tasks(s: &Shared, job: Job) {
    loop {
        let i = s.next.fetch_add(1, Ordering::AcqRel);
        if i >= job.n {
            break;
        }
        // SAFETY: `run` keeps the closure alive while any worker is active in this job.
        let f = unsafe { &*job.f };
        f(i);
    }
}

fn worker(s: &Shared) {
    let mut seen = 0usize;
    loop {
        // Wait for a new epoch: spin first, then sleep.
        let start = Instant::now();
        while s.epoch.load(Ordering::Acquire) == seen && start.elapsed() < SPIN {
            std::hint::spin_loop();
        }
        let mut guard = s.job.lock().unwrap_or_else(|e| e.into_inner());
        while s.epoch.load(Ordering::Acquire) == seen && s.shutdown.load(Ordering::Acquire) == 0 {
            guard = s.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
        if s.shutdown.load(Ordering::Acquire) != 0 {
            return;
        }
        seen = s.epoch.load(Ordering::Acquire);
        let job = *guard;
        drop(guard);
        if let Some(job) = job {
            claim_tasks(s, job);
        }
        s.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(1, Ordering::SeqCst);
        {
            let _g = self.shared.job.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_task_runs_exactly_once_across_many_jobs() {
        for threads in [1, 2, 4] {
            let pool = Pool::new(threads).unwrap();
            for n in [0, 1, 2, 3, 17, 1000] {
                let hits: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
                pool.run(n, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(
                    hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                    "threads {threads} n {n}"
                );
            }
        }
    }

    #[test]
    fn jobs_borrowing_stack_data_complete_before_run_returns() {
        let pool = Pool::new(3).unwrap();
        for round in 0..200u64 {
            let sum = AtomicU64::new(0);
            let data: Vec<u64> = (0..64).map(|i| i + round).collect();
            pool.run(data.len(), &|i| {
                sum.fetch_add(data[i], Ordering::Relaxed);
            });
            assert_eq!(sum.load(Ordering::Relaxed), data.iter().sum::<u64>());
        }
    }
}
