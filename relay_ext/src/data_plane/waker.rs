//! How Rust threads tell the Python event loop that something changed without taking the
//! GIL: one byte written to a non-blocking socket pair whose other end Python watches
//! (`loop.add_reader`). A flag keeps it to one byte per round: set when a byte is written,
//! cleared by Python before it collects the news.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Waker {
    write_end: UnixStream,
    read_end: UnixStream,
    pending: AtomicBool,
}

impl Waker {
    pub fn new() -> io::Result<Self> {
        let (write_end, read_end) = UnixStream::pair()?;
        write_end.set_nonblocking(true)?;
        read_end.set_nonblocking(true)?;
        Ok(Waker { write_end, read_end, pending: AtomicBool::new(false) })
    }

    /// The descriptor Python watches for readability.
    pub fn fd(&self) -> RawFd {
        self.read_end.as_raw_fd()
    }

    pub fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            // A full buffer means a wake-up is already pending: nothing is lost.
            let _ = (&self.write_end).write(&[1]);
        }
    }

    /// Drains the socket and re-arms the flag; the caller collects the news after this.
    pub fn reset(&self) {
        let mut sink = [0u8; 256];
        while matches!((&self.read_end).read(&mut sink), Ok(n) if n > 0) {}
        self.pending.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_per_round() {
        let w = Waker::new().unwrap();
        w.wake();
        w.wake();
        let mut buf = [0u8; 8];
        assert_eq!((&w.read_end).read(&mut buf).unwrap(), 1);
        w.reset();
        w.wake();
        assert_eq!((&w.read_end).read(&mut buf).unwrap(), 1);
    }
}
