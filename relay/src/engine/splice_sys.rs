//! The only `unsafe` in the relay: thin wrappers over pipe2(2), fcntl(2) pipe sizing and
//! splice(2).
//!
//! Each wrapper takes borrowed file descriptors (so the fd is open for the whole call) and
//! turns `-1` into `io::Error::last_os_error()`. No buffers cross the boundary: splice moves
//! pages inside the kernel. Nothing here blocks: pipes are created `O_NONBLOCK` and every
//! splice passes `SPLICE_F_NONBLOCK`.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Creates a non-blocking, close-on-exec pipe: `(read end, write end)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: `fds` is a valid, writable array of two c_ints, as pipe2 requires.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let [r, w] = fds;
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else yet.
    let pair = unsafe { (OwnedFd::from_raw_fd(r), OwnedFd::from_raw_fd(w)) };
    Ok(pair)
}

/// Asks the kernel to resize a pipe to `size` bytes; returns the size it got.
pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) -> io::Result<usize> {
    let size =
        libc::c_int::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `fd` is a borrowed open fd; F_SETPIPE_SZ takes an int argument.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    usize::try_from(rc).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// The current capacity of a pipe in bytes.
pub(crate) fn pipe_size(fd: BorrowedFd<'_>) -> io::Result<usize> {
    // SAFETY: `fd` is a borrowed open fd; F_GETPIPE_SZ takes no argument.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    usize::try_from(rc).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Moves up to `len` bytes from `from` to `to` (one of them a pipe) without blocking.
/// `Ok(0)` from a socket means EOF; `WouldBlock` means try again after readiness.
pub(crate) fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    // SAFETY: both fds are borrowed open fds; null offsets mean "use the file position",
    // which is required for pipes and sockets; no user memory is passed.
    let rc = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    usize::try_from(rc).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn pipe_resizes_and_reports() {
        let (r, _w) = pipe().unwrap();
        let got = set_pipe_size(r.as_fd(), 1 << 20).unwrap_or(65536);
        assert!(got >= 65536);
        assert_eq!(pipe_size(r.as_fd()).unwrap(), got);
    }

    #[test]
    fn splice_between_pipes_moves_bytes() {
        let (r1, w1) = pipe().unwrap();
        let (r2, w2) = pipe().unwrap();
        let data = b"hello";
        let n = std::fs::File::from(w1.try_clone().unwrap());
        use std::io::Write;
        (&n).write_all(data).unwrap();
        assert_eq!(splice(r1.as_fd(), w2.as_fd(), 64).unwrap(), 5);
        // Empty source pipe would block.
        let e = splice(r1.as_fd(), w2.as_fd(), 64).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop((r2, w1));
    }
}
