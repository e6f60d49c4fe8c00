//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`) owned by one ring thread.
//!
//! The kernel picks a free buffer from this ring for every multishot receive completion, so a
//! thread needs one pool for all its sessions instead of one buffer per socket: an idle session
//! costs no buffer at all. Buffers come back with [`BufRing::release`] once every send that
//! references them has completed; a per-buffer reference count covers zero-copy sends whose
//! notification arrives after the send result. This file does not decide when to receive or
//! send; it only hands out and takes back memory.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

/// Page alignment the kernel requires for the ring of entries.
const PAGE: usize = 4096;

/// A registered ring of `count` buffers of `size` bytes each, buffer group `group`.
pub(super) struct BufRing {
    /// The ring of `count` entries shared with the kernel (page aligned).
    entries: NonNull<BufRingEntry>,
    entries_layout: Layout,
    /// One anonymous mapping holding every buffer back to back (pages are zero-filled on
    /// first touch, so buffers that were never used cost no resident memory).
    memory: NonNull<u8>,
    memory_len: usize,
    count: u16,
    size: u32,
    group: u16,
    /// Our copy of the tail; published to the kernel by [`BufRing::publish`].
    tail: u16,
    /// Buffers added since the last publish.
    unpublished: bool,
    /// References per buffer id: the queued chunk plus in-flight zero-copy sends.
    refs: Vec<u8>,
    /// Buffers currently out of the ring (held by us).
    out: usize,
}

impl std::fmt::Debug for BufRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufRing")
            .field("count", &self.count)
            .field("size", &self.size)
            .field("group", &self.group)
            .field("out", &self.out)
            .finish()
    }
}

impl BufRing {
    /// Allocates `count` (a power of two, at most 32768) buffers of `size` bytes and registers
    /// them with `ring` as buffer group `group`.
    pub(super) fn register(ring: &IoUring, count: u16, size: u32, group: u16) -> io::Result<Self> {
        if !count.is_power_of_two() || count > 32768 || size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad buffer ring shape",
            ));
        }
        let entries_bytes = usize::from(count) * std::mem::size_of::<BufRingEntry>();
        let entries_layout = Layout::from_size_align(entries_bytes.max(PAGE), PAGE)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let memory_len = usize::from(count) * size as usize;
        // SAFETY: the layout has a non-zero size (at least one page).
        let entries_raw = unsafe { alloc_zeroed(entries_layout) };
        let entries = NonNull::new(entries_raw.cast::<BufRingEntry>())
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected. (A
        // page-aligned `alloc_zeroed` would memset, and so touch, every page up front.)
        let mapped = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                memory_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        let memory = if mapped == libc::MAP_FAILED {
            None
        } else {
            NonNull::new(mapped.cast::<u8>())
        };
        let Some(memory) = memory else {
            // SAFETY: `entries_raw` was allocated just above with `entries_layout`.
            unsafe { dealloc(entries_raw, entries_layout) };
            return Err(io::Error::last_os_error());
        };
        let mut this = Self {
            entries,
            entries_layout,
            memory,
            memory_len,
            count,
            size,
            group,
            tail: 0,
            unpublished: false,
            refs: vec![1; usize::from(count)],
            out: usize::from(count),
        };
        // SAFETY: the entries memory is page aligned, `count` entries long and stays allocated
        // until `Drop`, which runs only after the ring that uses it was dropped or the group
        // unregistered (the worker owns both and drops the ring first).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                this.entries.as_ptr() as u64,
                count,
                group,
                0,
            )?;
        }
        for bid in 0..count {
            this.release(bid);
        }
        this.publish();
        Ok(this)
    }

    /// The buffer group id to name in receive SQEs.
    pub(super) fn group(&self) -> u16 {
        self.group
    }

    /// Buffers currently held by the application (not available to the kernel).
    pub(super) fn held(&self) -> usize {
        self.out
    }

    /// Total buffers in the pool.
    pub(super) fn count(&self) -> usize {
        usize::from(self.count)
    }

    /// Marks buffer `bid` as taken by a completion (the kernel removed it from the ring).
    pub(super) fn take(&mut self, bid: u16) {
        if let Some(r) = self.refs.get_mut(usize::from(bid)) {
            *r = 1;
            self.out += 1;
        }
    }

    /// Adds one reference to buffer `bid` (an in-flight zero-copy send).
    pub(super) fn add_ref(&mut self, bid: u16) {
        if let Some(r) = self.refs.get_mut(usize::from(bid)) {
            *r = r.saturating_add(1);
        }
    }

    /// Drops one reference; the buffer goes back to the kernel when none is left.
    pub(super) fn release(&mut self, bid: u16) {
        let Some(r) = self.refs.get_mut(usize::from(bid)) else {
            return;
        };
        if *r == 0 {
            return;
        }
        *r -= 1;
        if *r > 0 {
            return;
        }
        self.out = self.out.saturating_sub(1);
        let mask = self.count - 1;
        let index = usize::from(self.tail & mask);
        // SAFETY: `index < count`, so the entry lies inside the ring allocation; the kernel
        // only reads entries between its head and our published tail, and this one is past the
        // published tail until `publish`.
        let entry = unsafe { &mut *self.entries.as_ptr().add(index) };
        // SAFETY: `bid < count` (checked by `refs.get_mut` above), so the buffer lies inside
        // the memory allocation.
        let addr = unsafe {
            self.memory
                .as_ptr()
                .add(usize::from(bid) * self.size as usize)
        };
        entry.set_addr(addr as u64);
        entry.set_len(self.size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        self.unpublished = true;
    }

    /// Makes every released buffer visible to the kernel (one release store).
    pub(super) fn publish(&mut self) {
        if !self.unpublished {
            return;
        }
        self.unpublished = false;
        // SAFETY: `entries` is the page-aligned base of the registered ring; the tail field
        // overlays the reserved field of entry 0 and is only ever written by us. The kernel
        // reads it with acquire semantics, so a release store publishes the entries above.
        unsafe {
            let tail = BufRingEntry::tail(self.entries.as_ptr()).cast_mut();
            (*tail.cast::<AtomicU16>()).store(self.tail, Ordering::Release);
        }
    }

    /// Pointer to byte `offset` of buffer `bid`, valid while the caller holds a reference.
    pub(super) fn ptr(&self, bid: u16, offset: u32) -> *const u8 {
        let bid = usize::from(bid.min(self.count - 1));
        let offset = offset.min(self.size) as usize;
        // SAFETY: `bid < count` and `offset ≤ size`, so the pointer stays inside (or one past
        // the end of) the buffer memory allocation.
        unsafe { self.memory.as_ptr().add(bid * self.size as usize + offset) }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: `entries` was allocated in `register` with exactly this layout and `memory`
        // mapped there with exactly this length. The worker drops its `IoUring` (which
        // unregisters every buffer group) before this ring, so the kernel no longer uses them.
        unsafe {
            dealloc(self.entries.as_ptr().cast::<u8>(), self.entries_layout);
            libc::munmap(self.memory.as_ptr().cast(), self.memory_len);
        }
    }
}
