//! Bounds-checked reading and writing of the primitive fields every message is built from.
//!
//! `Reader` walks a byte slice and never indexes: every read checks `remaining` first and names
//! the field it was reading when it fails. Writers check per-field caps so the codec never emits
//! a message its own decoder would refuse. This module knows nothing about message types.

use bytes::{BufMut, Bytes, BytesMut};

use crate::message::MessageError;

/// A cursor over an input slice that fails instead of panicking.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], MessageError> {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(MessageError::Truncated { field }),
        }
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], MessageError> {
        let head = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, MessageError> {
        Ok(u8::from_be_bytes(self.array::<1>(field)?))
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, MessageError> {
        Ok(u16::from_be_bytes(self.array::<2>(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, MessageError> {
        Ok(u32::from_be_bytes(self.array::<4>(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, MessageError> {
        Ok(u64::from_be_bytes(self.array::<8>(field)?))
    }

    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, MessageError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(MessageError::InvalidValue {
                field,
                value: u64::from(other),
            }),
        }
    }

    /// A byte string with a u16 length prefix, refused when longer than `max`.
    pub(crate) fn bytes16(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<Bytes, MessageError> {
        let len = usize::from(self.u16(field)?);
        if len > max {
            return Err(MessageError::FieldTooLong { field, len, max });
        }
        Ok(Bytes::copy_from_slice(self.take(len, field)?))
    }

    /// A UTF-8 string with a u16 length prefix, refused when longer than `max` bytes.
    pub(crate) fn str16(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<String, MessageError> {
        let len = usize::from(self.u16(field)?);
        if len > max {
            return Err(MessageError::FieldTooLong { field, len, max });
        }
        let raw = self.take(len, field)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(MessageError::InvalidUtf8 { field }),
        }
    }

    /// Fails when input is left over: decoders accept exactly one value.
    pub(crate) fn finish(self) -> Result<(), MessageError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(MessageError::TrailingBytes(self.rest.len()))
        }
    }
}

fn check_len(field: &'static str, len: usize, max: usize) -> Result<u16, MessageError> {
    if len > max {
        return Err(MessageError::FieldTooLong { field, len, max });
    }
    u16::try_from(len).map_err(|_| MessageError::FieldTooLong {
        field,
        len,
        max: usize::from(u16::MAX),
    })
}

pub(crate) fn put_bytes16(
    dst: &mut BytesMut,
    field: &'static str,
    max: usize,
    value: &[u8],
) -> Result<(), MessageError> {
    let len = check_len(field, value.len(), max)?;
    dst.put_u16(len);
    dst.put_slice(value);
    Ok(())
}

pub(crate) fn put_str16(
    dst: &mut BytesMut,
    field: &'static str,
    max: usize,
    value: &str,
) -> Result<(), MessageError> {
    put_bytes16(dst, field, max, value.as_bytes())
}

/// Cuts `text` to at most `max` bytes on a character boundary (for human sentences only).
pub(crate) fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_names_the_truncated_field() {
        let mut r = Reader::new(&[0, 1]);
        assert_eq!(r.u16("a"), Ok(1));
        assert_eq!(r.u8("b"), Err(MessageError::Truncated { field: "b" }));
    }

    #[test]
    fn reader_refuses_over_long_and_trailing() {
        let mut r = Reader::new(&[0, 5, b'a', b'b', b'c', b'd', b'e', 9]);
        assert_eq!(
            r.str16("s", 4),
            Err(MessageError::FieldTooLong {
                field: "s",
                len: 5,
                max: 4
            })
        );
        let mut r = Reader::new(&[0, 1, b'a', 9]);
        assert_eq!(r.str16("s", 4).as_deref(), Ok("a"));
        assert_eq!(r.finish(), Err(MessageError::TrailingBytes(1)));
    }

    #[test]
    fn truncate_keeps_char_boundaries() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("abc", 10), "abc");
    }
}
