//! [`SealedMux`]: a [`Mux`] glued to a [`NoiseTransport`], so a driver deals only in
//! ciphertext: bytes read from the relay go to `handle_ciphertext`, bytes for the relay come
//! from `poll_ciphertext`.
//!
//! Still sans-IO and clock-free. It adds no protocol of its own: each `poll_ciphertext` seals
//! one batch of mux frames (split into Noise messages of at most 65,519 plaintext bytes).

use std::time::Instant;

use bytes::BytesMut;

use super::engine::Mux;
use super::error::MuxError;
use crate::noise::{NoiseError, NoiseTransport};

/// Either layer failed; both are final for the session.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealedMuxError {
    /// The Noise layer failed (tampering, desync).
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// The mux layer failed (protocol violation, keep-alive timeout).
    #[error(transparent)]
    Mux(#[from] MuxError),
}

/// A mux whose frames travel sealed by a Noise transport.
#[derive(Debug)]
pub struct SealedMux {
    transport: NoiseTransport,
    mux: Mux,
    plaintext: BytesMut,
}

impl SealedMux {
    /// Joins an established transport and a fresh mux.
    pub fn new(transport: NoiseTransport, mux: Mux) -> Self {
        Self {
            transport,
            mux,
            plaintext: BytesMut::new(),
        }
    }

    /// The mux, for `open`/`send`/`recv`/`poll_event` and the timers.
    pub fn mux(&mut self) -> &mut Mux {
        &mut self.mux
    }

    /// The transport (e.g. for its handshake hash).
    pub fn transport(&self) -> &NoiseTransport {
        &self.transport
    }

    /// Opens every complete Noise message at the front of `src` and feeds the mux. Partial
    /// messages stay in `src` for the next call.
    pub fn handle_ciphertext(
        &mut self,
        src: &mut BytesMut,
        now: Instant,
    ) -> Result<(), SealedMuxError> {
        while let Some(plaintext) = self.transport.open(src)? {
            self.mux.handle_input(&plaintext, now)?;
        }
        Ok(())
    }

    /// Appends up to about `max_plaintext` bytes of sealed frames to `dst`; returns the
    /// plaintext bytes sealed (0: nothing to send).
    pub fn poll_ciphertext(
        &mut self,
        dst: &mut BytesMut,
        max_plaintext: usize,
        now: Instant,
    ) -> Result<usize, SealedMuxError> {
        self.plaintext.clear();
        let n = self
            .mux
            .poll_transmit(&mut self.plaintext, max_plaintext, now)?;
        if n > 0 {
            self.transport.seal(&self.plaintext, dst)?;
        }
        Ok(n)
    }
}
