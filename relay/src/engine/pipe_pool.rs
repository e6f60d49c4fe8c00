//! A bounded pool of kernel pipes for the `splice` engine.
//!
//! A direction borrows a pipe only while bytes are in flight and gives it back, empty, when
//! its socket would block, so an idle session holds no pipe. The pool is sharded per worker
//! thread (a thread takes from and returns to its own shard first) and bounded twice: at most
//! `max_pipes` pipes exist at once (idle + lent), and each shard keeps at most
//! `idle_per_shard` idle pipes (extra ones are closed).
//!
//! New pipes are resized with `F_SETPIPE_SZ` to `pipe_size`, halving down to 64 KiB when the
//! kernel refuses (the per-user budget `fs.pipe-user-pages-soft` / `fs.pipe-max-size`). A pipe
//! the kernel keeps below 64 KiB (it does that once a user is over the soft budget) counts as
//! "no pipe": the engine then falls back to `copy`. It never blocks and holds no lock across
//! a system call other than the shard push/pop.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::splice_sys;

/// Smallest pipe worth splicing through.
pub const MIN_PIPE_SIZE: usize = 64 * 1024;

/// Sizes and bounds of a [`PipePool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipePoolConfig {
    /// Wanted capacity of each pipe in bytes (default 1 MiB).
    pub pipe_size: usize,
    /// Most pipes alive at once, idle or lent (default 8192, i.e. 4096 busy sessions).
    pub max_pipes: usize,
    /// Most idle pipes kept per shard (default 64).
    pub idle_per_shard: usize,
}

impl Default for PipePoolConfig {
    fn default() -> Self {
        Self {
            pipe_size: 1 << 20,
            max_pipes: 8192,
            idle_per_shard: 64,
        }
    }
}

/// Why the pool could not lend a pipe.
#[derive(Debug, thiserror::Error)]
pub enum PipeUnavailable {
    /// `max_pipes` pipes are alive.
    #[error("pipe pool at its bound of {0} pipes")]
    PoolFull(usize),
    /// The kernel refused a pipe or kept it too small (fd limit, pipe budget).
    #[error("kernel refused a pipe: {0}")]
    Kernel(#[source] io::Error),
}

/// The pool. Share it as `Arc<PipePool>`.
#[derive(Debug)]
pub struct PipePool {
    cfg: PipePoolConfig,
    shards: Box<[Mutex<Vec<Pipe>>]>,
    alive: Arc<AtomicUsize>,
}

/// A pipe lent by the pool. Dropping it closes it; give it back with [`PipePool::put`] only
/// when it is empty.
#[derive(Debug)]
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
    alive: Arc<AtomicUsize>,
}

impl Pipe {
    /// The read end.
    pub fn read_end(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
    /// The write end.
    pub fn write_end(&self) -> BorrowedFd<'_> {
        self.write.as_fd()
    }
    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::Relaxed);
    }
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

fn shard_index(n: usize) -> usize {
    let i = SHARD.with(|s| match s.get() {
        Some(i) => i,
        None => {
            let i = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
            s.set(Some(i));
            i
        }
    });
    i % n.max(1)
}

impl PipePool {
    /// A pool with one shard per available CPU.
    pub fn new(cfg: PipePoolConfig) -> Arc<Self> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shards = (0..n).map(|_| Mutex::new(Vec::new())).collect();
        Arc::new(Self {
            cfg,
            shards,
            alive: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The process-wide pool with default sizes (for engines used outside a relay).
    pub fn shared_default() -> Arc<Self> {
        static DEFAULT: OnceLock<Arc<PipePool>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| Self::new(PipePoolConfig::default()))
            .clone()
    }

    /// The configuration.
    pub fn config(&self) -> PipePoolConfig {
        self.cfg
    }

    /// Pipes alive now (idle + lent).
    pub fn alive(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }

    /// Idle pipes held by the pool.
    pub fn idle(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Lends an empty pipe: an idle one from this thread's shard, then from any shard, else a
    /// new one if the bound allows.
    pub fn take(&self) -> Result<Pipe, PipeUnavailable> {
        let n = self.shards.len();
        let home = shard_index(n);
        for k in 0..n {
            if let Some(shard) = self.shards.get((home + k) % n)
                && let Some(p) = shard.lock().pop()
            {
                return Ok(p);
            }
        }
        self.create()
    }

    /// Returns an EMPTY pipe to this thread's shard (closing it when the shard is full).
    pub fn put(&self, pipe: Pipe) {
        let home = shard_index(self.shards.len());
        if let Some(shard) = self.shards.get(home) {
            let mut idle = shard.lock();
            if idle.len() < self.cfg.idle_per_shard {
                idle.push(pipe);
            }
        }
    }

    fn create(&self) -> Result<Pipe, PipeUnavailable> {
        let prev = self.alive.fetch_add(1, Ordering::Relaxed);
        if prev >= self.cfg.max_pipes {
            self.alive.fetch_sub(1, Ordering::Relaxed);
            return Err(PipeUnavailable::PoolFull(self.cfg.max_pipes));
        }
        match open_pipe(self.cfg.pipe_size) {
            Ok((read, write, capacity)) => Ok(Pipe {
                read,
                write,
                capacity,
                alive: self.alive.clone(),
            }),
            Err(e) => {
                self.alive.fetch_sub(1, Ordering::Relaxed);
                Err(PipeUnavailable::Kernel(e))
            }
        }
    }
}

/// Opens a pipe and grows it toward `want` bytes, accepting less down to [`MIN_PIPE_SIZE`].
fn open_pipe(want: usize) -> io::Result<(OwnedFd, OwnedFd, usize)> {
    let (read, write) = splice_sys::pipe()?;
    let mut size = want.max(MIN_PIPE_SIZE);
    while size > MIN_PIPE_SIZE {
        if splice_sys::set_pipe_size(write.as_fd(), size).is_ok() {
            break;
        }
        size /= 2;
    }
    let got = splice_sys::pipe_size(write.as_fd())?;
    if got < MIN_PIPE_SIZE {
        return Err(io::Error::other(format!(
            "pipe capacity {got} bytes is below {MIN_PIPE_SIZE} (per-user pipe budget spent?)"
        )));
    }
    Ok((read, write, got))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_bounds_and_reuses() {
        let pool = PipePool::new(PipePoolConfig {
            pipe_size: 1 << 20,
            max_pipes: 2,
            idle_per_shard: 1,
        });
        let p1 = pool.take().unwrap();
        assert!(p1.capacity() >= MIN_PIPE_SIZE);
        let p2 = pool.take().unwrap();
        assert!(matches!(pool.take(), Err(PipeUnavailable::PoolFull(2))));
        pool.put(p1);
        assert_eq!(pool.idle(), 1);
        pool.put(p2); // shard full: closed
        assert_eq!(pool.alive(), 1);
        let _again = pool.take().unwrap();
        assert_eq!(pool.idle(), 0);
        assert_eq!(pool.alive(), 1);
    }
}
