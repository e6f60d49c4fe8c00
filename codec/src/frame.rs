//! The versioned frame: the only framing on a Switchboard connection before the relay's `Ready`.
//!
//! Layout (big-endian): `version: u8` (= 1), `kind: u8`, `flags: u16`, `length: u32`, then
//! `length` payload bytes. `FrameDecoder` checks version, kind, flags and the declared length
//! against its configured maximum as soon as those bytes are present, before it buffers or
//! allocates anything for the payload, and never panics. It does not interpret payloads.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error_code::ErrorCode;

/// The frame format version this codec speaks.
pub const FRAME_VERSION: u8 = 1;
/// Bytes in a frame header.
pub const HEADER_LEN: usize = 8;
/// The default largest payload a decoder accepts (64 KiB).
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;
/// The largest maximum a decoder may be configured with (1 MiB).
pub const MAX_FRAME_LIMIT: usize = 1024 * 1024;
/// Flag bits defined by version 1: none; every bit is reserved and must be zero.
pub const KNOWN_FLAGS: u16 = 0;

/// What a frame's payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// One encoded `ControlMessage`.
    Control = 1,
}

impl FrameKind {
    /// The wire byte.
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The kind for a wire byte, `None` when unknown.
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            1 => Some(Self::Control),
            _ => None,
        }
    }
}

/// A violation found while decoding a frame header, or a refused decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first byte is not a version this codec speaks.
    #[error("unsupported frame version {0}")]
    UnsupportedVersion(u8),
    /// The kind byte is not a known `FrameKind`.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// A reserved flag bit is set.
    #[error("reserved frame flags set: {0:#06x}")]
    ReservedFlags(u16),
    /// The declared payload length exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Declared payload length.
        len: u64,
        /// Configured maximum.
        max: usize,
    },
    /// A decoder was configured with a maximum above `MAX_FRAME_LIMIT`.
    #[error("configured frame maximum {0} exceeds the limit of {MAX_FRAME_LIMIT}")]
    MaxOutOfRange(usize),
}

impl FrameError {
    /// The error code a peer is told.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            Self::UnknownKind(_) | Self::ReservedFlags(_) => ErrorCode::ProtocolViolation,
            Self::TooLarge { .. } => ErrorCode::FrameTooLarge,
            Self::MaxOutOfRange(_) => ErrorCode::Internal,
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the payload is.
    pub kind: FrameKind,
    /// Flag bits (all reserved in version 1).
    pub flags: u16,
    /// The payload bytes.
    pub payload: Bytes,
}

impl Frame {
    /// A frame of `kind` without flags.
    pub fn new(kind: FrameKind, payload: Bytes) -> Self {
        Self {
            kind,
            flags: 0,
            payload,
        }
    }

    /// Header plus payload length.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Appends header and payload to `dst`. A payload above `u32::MAX` bytes cannot occur in
    /// practice (decoders cap at 1 MiB); its length would be written saturated and refused.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        dst.put_u8(FRAME_VERSION);
        dst.put_u8(self.kind.number());
        dst.put_u16(self.flags);
        dst.put_u32(u32::try_from(self.payload.len()).unwrap_or(u32::MAX));
        dst.put_slice(&self.payload);
    }

    /// The encoded frame as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut dst);
        dst.freeze()
    }
}

/// Splits a byte stream into frames, refusing violations before allocating.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_len: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self {
            max_len: DEFAULT_MAX_FRAME,
        }
    }
}

impl FrameDecoder {
    /// A decoder accepting payloads up to `max_len` bytes; above `MAX_FRAME_LIMIT` is refused.
    pub fn new(max_len: usize) -> Result<Self, FrameError> {
        if max_len > MAX_FRAME_LIMIT {
            return Err(FrameError::MaxOutOfRange(max_len));
        }
        Ok(Self { max_len })
    }

    /// The configured maximum payload length.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Checks whatever part of a header `head` holds (it may be shorter than a header), so a
    /// bad version is refused from the first byte on. Returns kind, flags and payload length
    /// once the whole header is present.
    fn check_header(&self, head: &[u8]) -> Result<Option<(FrameKind, u16, usize)>, FrameError> {
        if let Some(&version) = head.first()
            && version != FRAME_VERSION
        {
            return Err(FrameError::UnsupportedVersion(version));
        }
        let kind = match head.get(1) {
            Some(&n) => Some(FrameKind::from_number(n).ok_or(FrameError::UnknownKind(n))?),
            None => None,
        };
        let flags = head
            .get(2..4)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .map(u16::from_be_bytes);
        if let Some(flags) = flags
            && flags & !KNOWN_FLAGS != 0
        {
            return Err(FrameError::ReservedFlags(flags));
        }
        let len = head
            .get(4..8)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(u32::from_be_bytes);
        let (Some(kind), Some(flags), Some(len)) = (kind, flags, len) else {
            return Ok(None);
        };
        match usize::try_from(len) {
            Ok(len) if len <= self.max_len => Ok(Some((kind, flags, len))),
            _ => Err(FrameError::TooLarge {
                len: u64::from(len),
                max: self.max_len,
            }),
        }
    }

    /// Takes one frame off the front of `buf`: `Ok(None)` means more bytes are needed (nothing
    /// is consumed or reserved); an error leaves `buf` untouched and the stream unusable.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let avail: &[u8] = buf.as_ref();
        let Some((kind, flags, len)) =
            self.check_header(avail.get(..HEADER_LEN).unwrap_or(avail))?
        else {
            return Ok(None);
        };
        let total = HEADER_LEN + len;
        if buf.len() < total {
            return Ok(None);
        }
        let mut frame = buf.split_to(total);
        frame.advance(HEADER_LEN);
        Ok(Some(Frame {
            kind,
            flags,
            payload: frame.freeze(),
        }))
    }

    /// Decodes one frame from the front of a slice: returns the frame and the number of bytes
    /// it used, or `Ok(None)` when the slice holds no whole frame yet.
    pub fn decode_slice(&self, input: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
        let Some((kind, flags, len)) =
            self.check_header(input.get(..HEADER_LEN).unwrap_or(input))?
        else {
            return Ok(None);
        };
        let total = HEADER_LEN + len;
        let Some(payload) = input.get(HEADER_LEN..total) else {
            return Ok(None);
        };
        let frame = Frame {
            kind,
            flags,
            payload: Bytes::copy_from_slice(payload),
        };
        Ok(Some((frame, total)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u8, kind: u8, flags: u16, len: u32) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_u8(version);
        b.put_u8(kind);
        b.put_u16(flags);
        b.put_u32(len);
        b
    }

    #[test]
    fn round_trip_byte_by_byte() {
        let frame = Frame::new(FrameKind::Control, Bytes::from_static(b"hello"));
        let wire = frame.to_bytes();
        assert_eq!(
            &wire[..],
            &[1, 1, 0, 0, 0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o']
        );
        let mut dec = FrameDecoder::default();
        let mut buf = BytesMut::new();
        for (i, b) in wire.iter().enumerate() {
            buf.put_u8(*b);
            let got = dec.decode(&mut buf).unwrap();
            if i + 1 < wire.len() {
                assert_eq!(got, None);
            } else {
                assert_eq!(got, Some(frame.clone()));
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn two_frames_in_one_buffer() {
        let a = Frame::new(FrameKind::Control, Bytes::from_static(b"a"));
        let b = Frame::new(FrameKind::Control, Bytes::new());
        let mut buf = BytesMut::new();
        a.encode(&mut buf);
        b.encode(&mut buf);
        buf.put_u8(1);
        let mut dec = FrameDecoder::default();
        assert_eq!(dec.decode(&mut buf).unwrap(), Some(a.clone()));
        assert_eq!(dec.decode(&mut buf).unwrap(), Some(b));
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 1);
        assert_eq!(dec.decode_slice(&a.to_bytes()).unwrap(), Some((a, 9)));
    }

    #[test]
    fn violations_have_distinct_errors() {
        let mut dec = FrameDecoder::default();
        let mut b = header(2, 1, 0, 0);
        assert_eq!(dec.decode(&mut b), Err(FrameError::UnsupportedVersion(2)));
        // The version is refused from its first byte on.
        assert_eq!(
            dec.decode(&mut BytesMut::from(&[0u8][..])),
            Err(FrameError::UnsupportedVersion(0))
        );
        assert_eq!(
            dec.decode(&mut header(1, 9, 0, 0)),
            Err(FrameError::UnknownKind(9))
        );
        assert_eq!(
            dec.decode(&mut header(1, 0, 0, 0)),
            Err(FrameError::UnknownKind(0))
        );
        assert_eq!(
            dec.decode(&mut header(1, 1, 0x8000, 0)),
            Err(FrameError::ReservedFlags(0x8000))
        );
        assert_eq!(
            dec.decode(&mut header(1, 1, 0, 64 * 1024 + 1)),
            Err(FrameError::TooLarge {
                len: 65537,
                max: 65536
            })
        );
        assert_eq!(
            FrameError::UnsupportedVersion(2).code(),
            ErrorCode::UnsupportedVersion
        );
        assert_eq!(
            FrameError::ReservedFlags(1).code(),
            ErrorCode::ProtocolViolation
        );
    }

    #[test]
    fn huge_declared_length_is_refused_without_allocating() {
        let mut dec = FrameDecoder::new(MAX_FRAME_LIMIT).unwrap();
        let mut b = header(1, 1, 0, u32::MAX);
        let cap = b.capacity();
        assert!(matches!(
            dec.decode(&mut b),
            Err(FrameError::TooLarge { .. })
        ));
        assert_eq!(b.capacity(), cap);
        // A legal but incomplete frame does not reserve its payload either.
        let mut b = header(1, 1, 0, 1024 * 1024);
        let cap = b.capacity();
        assert_eq!(dec.decode(&mut b), Ok(None));
        assert_eq!(b.capacity(), cap);
    }

    #[test]
    fn max_is_configurable_up_to_one_mib() {
        assert!(FrameDecoder::new(MAX_FRAME_LIMIT).is_ok());
        assert_eq!(
            FrameDecoder::new(MAX_FRAME_LIMIT + 1).unwrap_err(),
            FrameError::MaxOutOfRange(MAX_FRAME_LIMIT + 1)
        );
        let mut dec = FrameDecoder::new(4).unwrap();
        assert!(dec.decode(&mut header(1, 1, 0, 5)).is_err());
        assert_eq!(FrameDecoder::default().max_len(), DEFAULT_MAX_FRAME);
    }
}
