//! FIX tag=value (FIX 4.2 and 4.4) for the drop-copy acceptor.
//!
//! [`Parser::frame`] finds one message at the start of a buffer as it arrives from a socket:
//! `8=BeginString|9=BodyLength|…|10=CheckSum|` (`|` is SOH, byte 1). It checks that BodyLength counts
//! the bytes from the field after it up to and including the SOH before `10=`, and that CheckSum is
//! the sum of every byte before `10=` modulo 256, written as three digits. The fields are kept as
//! offsets into the caller's buffer: nothing is copied, and one `Parser` is reused for every
//! message, so parsing allocates nothing once its field table has grown.

pub mod acceptance;
pub mod acceptor;
pub mod dict;
pub mod dropcopy;
pub mod session;

use std::fmt;

/// The field separator.
pub const SOH: u8 = 1;

/// The longest message accepted (a drop copy's ExecutionReport is a few hundred bytes).
pub const MAX_MESSAGE: usize = 1 << 20;

/// Why the bytes at the start of a buffer are not a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// They do not start with `8=…|9=…|`: FIX says to ignore a garbled message; `skip` bytes
    /// (to the next `8=` after the start, or everything) can be dropped.
    #[error("garbled: {reason}")]
    Garbled { reason: &'static str, skip: usize },
    /// BodyLength does not end where `10=` starts; `skip` covers everything up to the first
    /// trailer from the declared end on (QuickFIX drops as much).
    #[error("BodyLength {declared} does not end where 10= starts")]
    BodyLength { declared: usize, skip: usize },
    /// The CheckSum field is not the sum of the bytes before it (`found` is `u32::MAX` when it
    /// is not three digits).
    #[error("CheckSum {found:03} but the message sums to {computed:03}")]
    CheckSum { found: u32, computed: u32, len: usize },
    /// Longer than [`MAX_MESSAGE`].
    #[error("a message longer than {MAX_MESSAGE} bytes")]
    TooLong { skip: usize },
}

impl FrameError {
    /// How many bytes to drop before looking for the next message.
    pub fn skip(&self) -> usize {
        match self {
            FrameError::Garbled { skip, .. } | FrameError::BodyLength { skip, .. } | FrameError::TooLong { skip } => *skip,
            FrameError::CheckSum { len, .. } => *len,
        }
    }
}

/// Why a framed message's fields are not well formed (each maps to a SessionRejectReason).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// A tag that is not a positive number (SessionRejectReason 0, invalid tag number).
    #[error("field {index}: tag is not a number")]
    BadTag { index: usize },
    /// `tag=` with nothing after it (SessionRejectReason 4).
    #[error("tag {tag} has no value")]
    Empty { tag: u32 },
    /// A field without `=`.
    #[error("field {index}: no '='")]
    NoEquals { index: usize },
}

/// One field: its tag and where its value lies in the message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Slot {
    tag: u32,
    start: u32,
    end: u32,
}

/// Frames and splits messages; reuse one for every message of a connection.
#[derive(Default)]
pub struct Parser {
    slots: Vec<Slot>,
}

/// A parsed message: its bytes and its fields in order, borrowed from the buffer.
pub struct Message<'a> {
    raw: &'a [u8],
    slots: &'a [Slot],
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.raw).replace('\u{1}', "|"))
    }
}

impl<'a> Message<'a> {
    /// The whole message, `8=` to the final SOH.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    /// The fields in order: (tag, value).
    pub fn fields(&self) -> impl Iterator<Item = (u32, &'a [u8])> + '_ {
        self.slots.iter().map(|s| (s.tag, &self.raw[s.start as usize..s.end as usize]))
    }
    /// The `i`-th field.
    pub fn field(&self, i: usize) -> Option<(u32, &'a [u8])> {
        self.slots.get(i).map(|s| (s.tag, &self.raw[s.start as usize..s.end as usize]))
    }
    /// The first value of `tag`.
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.slots.iter().find(|s| s.tag == tag).map(|s| &self.raw[s.start as usize..s.end as usize])
    }
    /// The first value of `tag` as text.
    pub fn str(&self, tag: u32) -> Option<&'a str> {
        self.get(tag).and_then(|v| std::str::from_utf8(v).ok())
    }
    /// MsgType (35).
    pub fn msg_type(&self) -> Option<&'a str> {
        self.str(35)
    }
}

fn find(buf: &[u8], from: usize, b: u8) -> Option<usize> {
    buf[from..].iter().position(|&x| x == b).map(|i| i + from)
}

/// Where a new message may begin after the start: the next `8=FIX`, or a prefix of it at the end
/// of the buffer (the rest has not arrived); else the whole buffer.
fn resync(buf: &[u8]) -> usize {
    (1..buf.len()).find(|&i| b"8=FIX".starts_with(&buf[i..buf.len().min(i + 5)])).unwrap_or(buf.len())
}

fn digits(v: &[u8]) -> Option<usize> {
    if v.is_empty() || v.len() > 9 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0usize, |n, d| n * 10 + (d - b'0') as usize))
}

impl Parser {
    pub fn new() -> Parser {
        Parser { slots: Vec::with_capacity(64) }
    }

    /// Frames the message at the start of `buf`. `Ok(None)`: not all of it has arrived yet.
    /// `Ok(Some((message, n)))`: a message of `n` bytes with well-formed framing; its fields are
    /// split by [`Parser::fields`]. Errors say how many bytes to skip.
    pub fn frame(buf: &[u8]) -> Result<Option<(usize, usize)>, FrameError> {
        // 8=...| then 9=digits|
        if buf.len() < 2 {
            return Ok(None);
        }
        if &buf[..2] != b"8=" {
            return Err(FrameError::Garbled { reason: "does not start with 8=", skip: resync(buf) });
        }
        let Some(e8) = find(buf, 2, SOH) else {
            return if buf.len() > 64 { Err(FrameError::Garbled { reason: "BeginString never ends", skip: resync(buf) }) } else { Ok(None) };
        };
        if buf.len() < e8 + 3 {
            return Ok(None);
        }
        if &buf[e8 + 1..e8 + 3] != b"9=" {
            return Err(FrameError::Garbled { reason: "BodyLength (9) is not the second field", skip: resync(buf) });
        }
        let Some(e9) = find(buf, e8 + 3, SOH) else {
            return if buf.len() > e8 + 16 { Err(FrameError::Garbled { reason: "BodyLength never ends", skip: resync(buf) }) } else { Ok(None) };
        };
        let Some(body) = digits(&buf[e8 + 3..e9]) else {
            return Err(FrameError::Garbled { reason: "BodyLength is not a number", skip: resync(buf) });
        };
        let start = e9 + 1;
        let trailer = start + body;
        if trailer > MAX_MESSAGE {
            return Err(FrameError::TooLong { skip: resync(buf) });
        }
        // As QuickFIX frames: the message ends at the first `|10=…|` from the declared end of the
        // body on. A BodyLength too long runs into the next message, and both are dropped; one too
        // short, or a CheckSum that is not three digits, drops that message alone.
        if buf.len() < trailer.max(1) + 4 {
            return Ok(None);
        }
        let from = trailer.max(1) - 1;
        let Some(p) = buf[from..].windows(4).position(|w| w == b"\x0110=").map(|i| i + from) else {
            if buf.len() > MAX_MESSAGE {
                return Err(FrameError::TooLong { skip: resync(buf) });
            }
            return Ok(None);
        };
        // A CheckSum is three digits: no SOH within four bytes of `10=` and the message is
        // broken, not still arriving (no waiting on an endless value).
        let Some(end) = buf[p + 4..buf.len().min(p + 8)].iter().position(|&b| b == SOH).map(|i| i + p + 4) else {
            if buf.len() >= p + 8 {
                let computed = buf[..trailer].iter().fold(0u32, |s, &b| s.wrapping_add(b as u32)) % 256;
                return Err(FrameError::CheckSum { found: u32::MAX, computed, len: p + 4 });
            }
            return Ok(None);
        };
        let total = end + 1;
        if p + 1 != trailer {
            return Err(FrameError::BodyLength { declared: body, skip: total });
        }
        let computed = buf[..trailer].iter().fold(0u32, |s, &b| s.wrapping_add(b as u32)) % 256;
        let value = &buf[trailer + 3..end];
        let found = if value.len() == 3 { digits(value) } else { None };
        match found {
            Some(f) if f as u32 == computed => Ok(Some((total, trailer))),
            Some(f) => Err(FrameError::CheckSum { found: f as u32, computed, len: total }),
            None => Err(FrameError::CheckSum { found: u32::MAX, computed, len: total }),
        }
    }

    /// Splits a framed message (`buf[..n]`, its trailer at `trailer`) into fields.
    pub fn fields<'a>(&'a mut self, buf: &'a [u8], n: usize) -> Result<Message<'a>, FieldError> {
        let raw = &buf[..n];
        self.slots.clear();
        let mut at = 0;
        let mut index = 0;
        while at < n {
            let Some(end) = find(raw, at, SOH) else { break };
            let Some(eq) = raw[at..end].iter().position(|&b| b == b'=').map(|i| i + at) else {
                return Err(FieldError::NoEquals { index });
            };
            let Some(tag) = digits(&raw[at..eq]).filter(|t| *t > 0 && raw[at] != b'0') else {
                return Err(FieldError::BadTag { index });
            };
            if eq + 1 == end {
                return Err(FieldError::Empty { tag: tag as u32 });
            }
            self.slots.push(Slot { tag: tag as u32, start: (eq + 1) as u32, end: end as u32 });
            at = end + 1;
            index += 1;
        }
        Ok(Message { raw, slots: &self.slots })
    }
}

/// Writes a complete message: `8=begin|9=len|` + `body` + `10=sum|` (`body` holds every field
/// from 35 on, each ending in SOH).
pub fn encode(begin: &str, body: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(b"8=");
    out.extend_from_slice(begin.as_bytes());
    out.push(SOH);
    out.extend_from_slice(b"9=");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.push(SOH);
    out.extend_from_slice(body);
    let sum = out[start..].iter().fold(0u32, |s, &b| s.wrapping_add(b as u32)) % 256;
    out.extend_from_slice(format!("10={sum:03}").as_bytes());
    out.push(SOH);
}

#[cfg(test)]
mod tests;
