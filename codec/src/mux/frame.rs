//! The mux frame codec: the frames that travel inside the decrypted Noise stream.
//!
//! Every frame is an 8-byte header — `type: u8`, `flags: u8` (0), `length: u16` (payload
//! bytes), `channel: u32`, all big-endian — followed by the payload. Decoding checks the type,
//! flags, length bound and length-for-type from the header alone, before waiting for or
//! allocating the payload, and never panics. This file knows nothing of channel state; the
//! rules about which frame may come when are in `engine.rs`.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::MuxError;
use super::kind::{ChannelId, ChannelKind, CloseReason};

/// Length of the frame header.
pub const MUX_HEADER_LEN: usize = 8;

/// Largest payload the 16-bit length can carry.
pub const MAX_MUX_FRAME_PAYLOAD: usize = u16::MAX as usize;

/// Fixed part of an `Open` payload: kind (1) + window (4).
pub(crate) const OPEN_FIXED_LEN: usize = 5;

/// Frame type numbers.
pub(crate) mod types {
    pub(crate) const OPEN: u8 = 1;
    pub(crate) const ACCEPT: u8 = 2;
    pub(crate) const DATA: u8 = 3;
    pub(crate) const EOF: u8 = 4;
    pub(crate) const CLOSE: u8 = 5;
    pub(crate) const WINDOW_CREDIT: u8 = 6;
    pub(crate) const PING: u8 = 7;
    pub(crate) const PONG: u8 = 8;
}

/// One mux frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MuxFrame {
    /// Opens a channel; `window` is the opener's receive window for it.
    Open {
        /// New channel id (opener's parity, larger than any it used before).
        channel: ChannelId,
        /// What the channel carries.
        kind: ChannelKind,
        /// Bytes the acceptor may send before it gets credit.
        window: u32,
        /// Kind-specific metadata, e.g. a tunnel target `host:port`.
        metadata: Bytes,
    },
    /// Accepts a channel the peer opened; `window` is the acceptor's receive window.
    Accept {
        /// Channel accepted.
        channel: ChannelId,
        /// Bytes the opener may send before it gets credit.
        window: u32,
    },
    /// Payload bytes; never empty.
    Data {
        /// Channel.
        channel: ChannelId,
        /// The bytes.
        data: Bytes,
    },
    /// The sender will send no more data on this channel (half-close); it still receives.
    Eof {
        /// Channel.
        channel: ChannelId,
    },
    /// Resets the channel in both directions (or refuses an `Open`).
    Close {
        /// Channel.
        channel: ChannelId,
        /// Why.
        reason: CloseReason,
        /// Human sentence, UTF-8.
        message: String,
    },
    /// Grants the peer `credit` more bytes of window on this channel.
    WindowCredit {
        /// Channel.
        channel: ChannelId,
        /// Bytes granted.
        credit: u32,
    },
    /// Keep-alive request (channel 0).
    Ping {
        /// Opaque token echoed by `Pong`.
        token: u64,
    },
    /// Keep-alive answer (channel 0).
    Pong {
        /// Token of the `Ping` answered.
        token: u64,
    },
}

impl MuxFrame {
    fn type_number(&self) -> u8 {
        match self {
            Self::Open { .. } => types::OPEN,
            Self::Accept { .. } => types::ACCEPT,
            Self::Data { .. } => types::DATA,
            Self::Eof { .. } => types::EOF,
            Self::Close { .. } => types::CLOSE,
            Self::WindowCredit { .. } => types::WINDOW_CREDIT,
            Self::Ping { .. } => types::PING,
            Self::Pong { .. } => types::PONG,
        }
    }

    /// The channel the frame belongs to ([`ChannelId::CONNECTION`] for keep-alives).
    pub fn channel(&self) -> ChannelId {
        match self {
            Self::Open { channel, .. }
            | Self::Accept { channel, .. }
            | Self::Data { channel, .. }
            | Self::Eof { channel }
            | Self::Close { channel, .. }
            | Self::WindowCredit { channel, .. } => *channel,
            Self::Ping { .. } | Self::Pong { .. } => ChannelId::CONNECTION,
        }
    }

    fn payload_len(&self) -> usize {
        match self {
            Self::Open { metadata, .. } => OPEN_FIXED_LEN.saturating_add(metadata.len()),
            Self::Accept { .. } | Self::WindowCredit { .. } => 4,
            Self::Data { data, .. } => data.len(),
            Self::Eof { .. } => 0,
            Self::Close { message, .. } => 2_usize.saturating_add(message.len()),
            Self::Ping { .. } | Self::Pong { .. } => 8,
        }
    }

    /// Bytes this frame takes on the wire.
    pub fn encoded_len(&self) -> usize {
        MUX_HEADER_LEN.saturating_add(self.payload_len())
    }

    /// Appends the frame to `dst`. Fails (writing nothing) if the payload exceeds 65,535 bytes.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), MuxError> {
        let len = self.payload_len();
        let wire_len = u16::try_from(len).map_err(|_| MuxError::FrameTooLarge {
            len,
            max: MAX_MUX_FRAME_PAYLOAD,
        })?;
        dst.reserve(MUX_HEADER_LEN + len);
        put_header(dst, self.type_number(), wire_len, self.channel());
        match self {
            Self::Open {
                kind,
                window,
                metadata,
                ..
            } => {
                dst.put_u8(kind.number());
                dst.put_u32(*window);
                dst.put_slice(metadata);
            }
            Self::Accept { window, .. } => dst.put_u32(*window),
            Self::Data { data, .. } => dst.put_slice(data),
            Self::Eof { .. } => {}
            Self::Close {
                reason, message, ..
            } => {
                dst.put_u16(reason.number());
                dst.put_slice(message.as_bytes());
            }
            Self::WindowCredit { credit, .. } => dst.put_u32(*credit),
            Self::Ping { token } | Self::Pong { token } => dst.put_u64(*token),
        }
        Ok(())
    }

    /// Decodes one frame from the front of `src`.
    ///
    /// `Ok(None)`: not enough bytes yet (nothing consumed). Errors are protocol violations.
    pub fn decode(src: &mut BytesMut, max_payload: usize) -> Result<Option<Self>, MuxError> {
        let Some(header) = src.get(..MUX_HEADER_LEN) else {
            return Ok(None);
        };
        let Ok([frame_type, flags, len_hi, len_lo, c0, c1, c2, c3]) =
            <[u8; MUX_HEADER_LEN]>::try_from(header)
        else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        let channel = ChannelId::new(u32::from_be_bytes([c0, c1, c2, c3]));
        let name = type_name(frame_type).ok_or(MuxError::UnknownFrameType(frame_type))?;
        if flags != 0 {
            return Err(MuxError::BadFlags { frame_type, flags });
        }
        if len > max_payload {
            return Err(MuxError::FrameTooLarge {
                len,
                max: max_payload,
            });
        }
        check_length(frame_type, name, len)?;
        let on_connection = channel == ChannelId::CONNECTION;
        let wants_connection = matches!(frame_type, types::PING | types::PONG);
        if on_connection != wants_connection {
            return Err(MuxError::BadChannelForFrame {
                frame_type: name,
                channel,
            });
        }
        if src.len() < MUX_HEADER_LEN + len {
            src.reserve(MUX_HEADER_LEN + len - src.len());
            return Ok(None);
        }
        src.advance(MUX_HEADER_LEN);
        let mut payload = src.split_to(len);
        // Lengths were checked above, so the fixed-size reads below cannot run short.
        let frame = match frame_type {
            types::OPEN => {
                let kind = ChannelKind::from_number(payload.get_u8());
                let window = payload.get_u32();
                Self::Open {
                    channel,
                    kind,
                    window,
                    metadata: payload.freeze(),
                }
            }
            types::ACCEPT => Self::Accept {
                channel,
                window: payload.get_u32(),
            },
            types::DATA => Self::Data {
                channel,
                data: payload.freeze(),
            },
            types::EOF => Self::Eof { channel },
            types::CLOSE => {
                let reason = CloseReason::from_number(payload.get_u16());
                let message = String::from_utf8(payload.to_vec())
                    .map_err(|_| MuxError::BadCloseMessage(channel))?;
                Self::Close {
                    channel,
                    reason,
                    message,
                }
            }
            types::WINDOW_CREDIT => Self::WindowCredit {
                channel,
                credit: payload.get_u32(),
            },
            types::PING => Self::Ping {
                token: payload.get_u64(),
            },
            _ => Self::Pong {
                token: payload.get_u64(),
            },
        };
        Ok(Some(frame))
    }
}

/// Writes a frame header.
pub(crate) fn put_header(dst: &mut BytesMut, frame_type: u8, len: u16, channel: ChannelId) {
    dst.put_u8(frame_type);
    dst.put_u8(0);
    dst.put_u16(len);
    dst.put_u32(channel.get());
}

pub(crate) fn type_name(frame_type: u8) -> Option<&'static str> {
    Some(match frame_type {
        types::OPEN => "Open",
        types::ACCEPT => "Accept",
        types::DATA => "Data",
        types::EOF => "Eof",
        types::CLOSE => "Close",
        types::WINDOW_CREDIT => "WindowCredit",
        types::PING => "Ping",
        types::PONG => "Pong",
        _ => return None,
    })
}

fn check_length(frame_type: u8, name: &'static str, len: usize) -> Result<(), MuxError> {
    let ok = match frame_type {
        types::OPEN => len >= OPEN_FIXED_LEN,
        types::ACCEPT | types::WINDOW_CREDIT => len == 4,
        types::DATA => len >= 1,
        types::EOF => len == 0,
        types::CLOSE => len >= 2,
        _ => len == 8,
    };
    if ok {
        Ok(())
    } else {
        Err(MuxError::BadFrameLength {
            frame_type: name,
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn channel() -> impl Strategy<Value = ChannelId> {
        (1..=u32::MAX).prop_map(ChannelId::new)
    }

    fn bytes(min: usize, max: usize) -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), min..max).prop_map(Bytes::from)
    }

    fn frame() -> impl Strategy<Value = MuxFrame> {
        prop_oneof![
            (channel(), any::<u8>(), any::<u32>(), bytes(0, 300)).prop_map(|(c, k, w, m)| {
                MuxFrame::Open {
                    channel: c,
                    kind: ChannelKind::from_number(k),
                    window: w,
                    metadata: m,
                }
            }),
            (channel(), any::<u32>()).prop_map(|(c, w)| MuxFrame::Accept {
                channel: c,
                window: w
            }),
            (channel(), bytes(1, 3000)).prop_map(|(c, d)| MuxFrame::Data {
                channel: c,
                data: d
            }),
            channel().prop_map(|c| MuxFrame::Eof { channel: c }),
            (channel(), any::<u16>(), ".{0,40}").prop_map(|(c, r, m)| MuxFrame::Close {
                channel: c,
                reason: CloseReason::from_number(r),
                message: m,
            }),
            (channel(), any::<u32>()).prop_map(|(c, n)| MuxFrame::WindowCredit {
                channel: c,
                credit: n
            }),
            any::<u64>().prop_map(|token| MuxFrame::Ping { token }),
            any::<u64>().prop_map(|token| MuxFrame::Pong { token }),
        ]
    }

    #[test]
    fn data_header_layout() {
        let mut buf = BytesMut::new();
        MuxFrame::Data {
            channel: ChannelId::new(0x0102_0304),
            data: Bytes::from_static(b"hi"),
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(&buf[..], &[3, 0, 0, 2, 1, 2, 3, 4, b'h', b'i']);
    }

    /// The example in docs/protocol-e2e.md section 4.
    #[test]
    fn spec_example_bytes() {
        let mut buf = BytesMut::new();
        MuxFrame::Open {
            channel: ChannelId::new(1),
            kind: ChannelKind::Tunnel,
            window: 262_144,
            metadata: Bytes::from_static(b"127.0.0.1:22"),
        }
        .encode(&mut buf)
        .unwrap();
        let mut expected = vec![1, 0, 0, 0x11, 0, 0, 0, 1, 1, 0, 4, 0, 0];
        expected.extend_from_slice(b"127.0.0.1:22");
        assert_eq!(&buf[..], &expected[..]);
        buf.clear();
        MuxFrame::Accept {
            channel: ChannelId::new(1),
            window: 262_144,
        }
        .encode(&mut buf)
        .unwrap();
        MuxFrame::Data {
            channel: ChannelId::new(1),
            data: Bytes::from_static(b"hi"),
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(
            &buf[..],
            &[
                2, 0, 0, 4, 0, 0, 0, 1, 0, 4, 0, 0, 3, 0, 0, 2, 0, 0, 0, 1, 0x68, 0x69
            ]
        );
        assert_eq!(buf.len() + 16, 0x26);
    }

    #[test]
    fn header_checks_come_before_payload_arrives() {
        // Declares 60,000 bytes with a 16 KiB limit: refused from the 8 header bytes alone.
        let mut buf = BytesMut::from(&[3_u8, 0, 0xEA, 0x60, 0, 0, 0, 1][..]);
        assert_eq!(
            MuxFrame::decode(&mut buf, 16 * 1024),
            Err(MuxError::FrameTooLarge {
                len: 60_000,
                max: 16 * 1024
            })
        );
        let mut buf = BytesMut::from(&[9_u8, 0, 0, 0, 0, 0, 0, 1][..]);
        assert_eq!(
            MuxFrame::decode(&mut buf, 1024),
            Err(MuxError::UnknownFrameType(9))
        );
        let mut buf = BytesMut::from(&[4_u8, 1, 0, 0, 0, 0, 0, 1][..]);
        assert!(matches!(
            MuxFrame::decode(&mut buf, 1024),
            Err(MuxError::BadFlags { .. })
        ));
        let mut buf = BytesMut::from(&[2_u8, 0, 0, 3, 0, 0, 0, 1][..]);
        assert!(matches!(
            MuxFrame::decode(&mut buf, 1024),
            Err(MuxError::BadFrameLength { .. })
        ));
        let mut buf = BytesMut::from(&[3_u8, 0, 0, 1, 0, 0, 0, 0][..]);
        assert!(matches!(
            MuxFrame::decode(&mut buf, 1024),
            Err(MuxError::BadChannelForFrame { .. })
        ));
        let mut buf = BytesMut::from(&[7_u8, 0, 0, 8, 0, 0, 0, 5][..]);
        assert!(matches!(
            MuxFrame::decode(&mut buf, 1024),
            Err(MuxError::BadChannelForFrame { .. })
        ));
    }

    #[test]
    fn partial_frame_waits_without_consuming() {
        let mut whole = BytesMut::new();
        MuxFrame::Ping { token: 7 }.encode(&mut whole).unwrap();
        for cut in 0..whole.len() {
            let mut part = BytesMut::from(&whole[..cut]);
            assert_eq!(MuxFrame::decode(&mut part, 1024), Ok(None));
            assert_eq!(part.len(), cut);
        }
    }

    #[test]
    fn close_message_must_be_utf8() {
        let mut buf = BytesMut::from(&[5_u8, 0, 0, 3, 0, 0, 0, 1, 0, 1, 0xFF][..]);
        assert_eq!(
            MuxFrame::decode(&mut buf, 1024),
            Err(MuxError::BadCloseMessage(ChannelId::new(1)))
        );
    }

    proptest! {
        #[test]
        fn round_trip(frames in proptest::collection::vec(frame(), 1..8)) {
            let mut buf = BytesMut::new();
            for f in &frames {
                f.encode(&mut buf).unwrap();
            }
            let total: usize = frames.iter().map(MuxFrame::encoded_len).sum();
            prop_assert_eq!(buf.len(), total);
            for f in &frames {
                let decoded = MuxFrame::decode(&mut buf, MAX_MUX_FRAME_PAYLOAD).unwrap();
                prop_assert_eq!(decoded.as_ref(), Some(f));
            }
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2000), max in 0..70_000_usize) {
            let mut buf = BytesMut::from(&data[..]);
            for _ in 0..data.len() + 1 {
                match MuxFrame::decode(&mut buf, max) {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        }

        #[test]
        fn arbitrary_headers_with_valid_lengths_never_panic(
            frame_type in 0..10_u8, len in 0..40_u16, channel in 0..3_u32,
            body in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut buf = BytesMut::new();
            put_header(&mut buf, frame_type, len, ChannelId::new(channel));
            buf.extend_from_slice(&body);
            let _ = MuxFrame::decode(&mut buf, 1024);
        }
    }
}
