//! The FIX session layer of the drop-copy acceptor (FIX 4.2 and 4.4), as a state machine with no
//! I/O: [`Session::on_message`] takes one framed message and [`Session::on_timer`] the passing of
//! time, and both answer with [`Action`]s for the connection to carry out.
//!
//! It behaves as QuickFIX's `Session` does, because QuickFIX's acceptance suite is the peer test a
//! FIX engine is held to (`shared/data/fix-acceptance`, the QuickFIX Software License):
//! - Logon, Heartbeat and TestRequest (a TestRequest after 1.2 heartbeat intervals of silence, a
//!   disconnect after 2.4), Logout (answered, or waited for [`SessionConfig::logout_timeout_ms`]).
//! - Sequence numbers kept in a [`Store`] with every message sent, so a restart resumes where the
//!   session was; ResetOnLogon and ResetSeqNumFlag (141=Y) start both at 1.
//! - A message numbered too high is queued and a ResendRequest sent (once per gap); the queue is
//!   replayed as the gap fills. One numbered too low ends the session unless it is a PossDup
//!   (43=Y) with a sane OrigSendingTime. A ResendRequest is answered from the store: application
//!   messages are resent with 43=Y and 122, runs of session messages become one GapFill.
//! - SequenceReset in both modes; session Reject with the SessionRejectReason of each problem the
//!   dictionary finds (required fields, tags unknown or not for the message type, values outside
//!   an enumeration, bad formats, repeated tags, fields out of order, group counts), with the
//!   routing fields reversed; BusinessMessageReject for a message type the application does not
//!   take.
//! - SendingTime within [`SessionConfig::max_latency_ms`] of the clock, the CompIDs of the
//!   session, the BeginString of the session.

use crate::dict::{Dictionary, Layout};
use crate::SOH;
use rustc_hash::FxHashSet;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One session's settings.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// `FIX.4.2` or `FIX.4.4`.
    pub begin_string: String,
    /// Our CompID (the peer's TargetCompID).
    pub sender_comp_id: String,
    /// The peer's CompID.
    pub target_comp_id: String,
    /// Start both sequence numbers at 1 on every Logon.
    pub reset_on_logon: bool,
    /// How far SendingTime may be from the clock (QuickFIX's MaxLatency, 120 s).
    pub max_latency_ms: i64,
    /// How long to wait for the answer to our Logout before disconnecting.
    pub logout_timeout_ms: i64,
    /// Take fields numbered 5000 and up (user-defined) wherever they appear, as venues add their
    /// own; QuickFIX's acceptance suite expects them refused.
    pub allow_user_fields: bool,
    /// Test mode: the application echoes NewOrderSingle, SecurityDefinition and Email as
    /// QuickFIX's acceptance application does, and takes nothing else.
    pub echo: bool,
}

impl SessionConfig {
    pub fn new(begin_string: &str, sender_comp_id: &str, target_comp_id: &str) -> SessionConfig {
        SessionConfig {
            begin_string: begin_string.into(),
            sender_comp_id: sender_comp_id.into(),
            target_comp_id: target_comp_id.into(),
            reset_on_logon: false,
            max_latency_ms: 120_000,
            logout_timeout_ms: 2_000,
            allow_user_fields: true,
            echo: false,
        }
    }
}

/// What the connection must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes.
    Send(Vec<u8>),
    /// Close the connection; the reason is for the log.
    Disconnect(String),
    /// An application message for the engine (not in test mode): its MsgType and bytes.
    Deliver { msg_type: String, raw: Vec<u8> },
    /// An application message refused with a Reject: kept by the application with the reason.
    Refused { raw: Vec<u8>, reason: String },
}

/// The message types a drop copy carries: ExecutionReport, NewOrderSingle, OrderCancelRequest,
/// OrderCancelReplaceRequest, OrderCancelReject.
pub const DROP_COPY_TYPES: [&str; 5] = ["8", "D", "F", "G", "9"];

/// Where a session keeps its sequence numbers and the messages it sent.
pub trait Store: Send {
    /// (next to send, next expected).
    fn seqnums(&self) -> (u64, u64);
    fn set_seqnums(&mut self, next_out: u64, next_in: u64) -> io::Result<()>;
    fn save(&mut self, seq: u64, raw: &[u8]) -> io::Result<()>;
    /// The messages sent with `from <= seq <= to`, in order.
    fn range(&self, from: u64, to: u64) -> Vec<(u64, Vec<u8>)>;
    /// Both numbers back to 1 and no messages.
    fn reset(&mut self) -> io::Result<()>;
}

/// A store in memory (a test, or a session that need not survive a restart).
#[derive(Debug)]
pub struct MemoryStore {
    next: (u64, u64),
    messages: BTreeMap<u64, Vec<u8>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore { next: (1, 1), messages: BTreeMap::new() }
    }
}

impl Store for MemoryStore {
    fn seqnums(&self) -> (u64, u64) {
        self.next
    }
    fn set_seqnums(&mut self, next_out: u64, next_in: u64) -> io::Result<()> {
        self.next = (next_out, next_in);
        Ok(())
    }
    fn save(&mut self, seq: u64, raw: &[u8]) -> io::Result<()> {
        self.messages.insert(seq, raw.to_vec());
        Ok(())
    }
    fn range(&self, from: u64, to: u64) -> Vec<(u64, Vec<u8>)> {
        if from > to {
            return Vec::new();
        }
        self.messages.range(from..=to).map(|(k, v)| (*k, v.clone())).collect()
    }
    fn reset(&mut self) -> io::Result<()> {
        *self = MemoryStore::default();
        Ok(())
    }
}

/// A store in a directory: `seqnums` holds the two numbers, `messages` every message sent (each
/// as `seq len\n` and its bytes), read back in full when the session opens.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    memory: MemoryStore,
    log: std::fs::File,
}

impl FileStore {
    pub fn open(dir: &Path) -> io::Result<FileStore> {
        std::fs::create_dir_all(dir)?;
        let mut memory = MemoryStore::default();
        let seq_path = dir.join("seqnums");
        if let Ok(text) = std::fs::read_to_string(&seq_path) {
            let mut it = text.split_whitespace().map(str::parse::<u64>);
            match (it.next(), it.next()) {
                (Some(Ok(o)), Some(Ok(i))) if o > 0 && i > 0 => memory.next = (o, i),
                _ => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{}: not two sequence numbers", seq_path.display()))),
            }
        }
        let log_path = dir.join("messages");
        if let Ok(bytes) = std::fs::read(&log_path) {
            let mut at = 0;
            while at < bytes.len() {
                let Some(nl) = bytes[at..].iter().position(|&b| b == b'\n').map(|i| i + at) else { break };
                let head = String::from_utf8_lossy(&bytes[at..nl]).into_owned();
                let mut it = head.split(' ').map(str::parse::<usize>);
                let (Some(Ok(seq)), Some(Ok(len))) = (it.next(), it.next()) else {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{}: byte {at}: a record header {head:?}", log_path.display())));
                };
                // A record cut short by a crash is the last one: what was written of it is dropped.
                if (nl + 1).checked_add(len).is_none_or(|end| end > bytes.len()) {
                    break;
                }
                memory.messages.insert(seq as u64, bytes[nl + 1..nl + 1 + len].to_vec());
                at = nl + 1 + len;
            }
            if at < bytes.len() {
                std::fs::OpenOptions::new().write(true).open(&log_path)?.set_len(at as u64)?;
            }
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
        Ok(FileStore { dir: dir.to_path_buf(), memory, log })
    }
}

impl Store for FileStore {
    fn seqnums(&self) -> (u64, u64) {
        self.memory.next
    }
    fn set_seqnums(&mut self, next_out: u64, next_in: u64) -> io::Result<()> {
        self.memory.next = (next_out, next_in);
        let tmp = self.dir.join("seqnums.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(format!("{next_out} {next_in}\n").as_bytes())?;
        f.sync_data()?;
        std::fs::rename(tmp, self.dir.join("seqnums"))
    }
    fn save(&mut self, seq: u64, raw: &[u8]) -> io::Result<()> {
        let mut rec = format!("{seq} {}\n", raw.len()).into_bytes();
        rec.extend_from_slice(raw);
        self.log.write_all(&rec)?;
        self.log.sync_data()?;
        self.memory.messages.insert(seq, raw.to_vec());
        Ok(())
    }
    fn range(&self, from: u64, to: u64) -> Vec<(u64, Vec<u8>)> {
        self.memory.range(from, to)
    }
    fn reset(&mut self) -> io::Result<()> {
        self.memory = MemoryStore::default();
        self.log = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(self.dir.join("messages"))?;
        self.set_seqnums(1, 1)
    }
}

/// SessionRejectReason (373) values, with QuickFIX's texts.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RejectReason {
    InvalidTagNumber = 0,
    RequiredTagMissing = 1,
    TagNotDefinedForMessageType = 2,
    TagSpecifiedWithoutValue = 4,
    ValueIsIncorrect = 5,
    IncorrectDataFormat = 6,
    CompIdProblem = 9,
    SendingTimeAccuracyProblem = 10,
    InvalidMsgType = 11,
    TagAppearsMoreThanOnce = 13,
    TagSpecifiedOutOfRequiredOrder = 14,
    IncorrectNumInGroupCount = 16,
}

impl RejectReason {
    pub fn text(self) -> &'static str {
        match self {
            RejectReason::InvalidTagNumber => "Invalid tag number",
            RejectReason::RequiredTagMissing => "Required tag missing",
            RejectReason::TagNotDefinedForMessageType => "Tag not defined for this message type",
            RejectReason::TagSpecifiedWithoutValue => "Tag specified without a value",
            RejectReason::ValueIsIncorrect => "Value is incorrect (out of range) for this tag",
            RejectReason::IncorrectDataFormat => "Incorrect data format for value",
            RejectReason::CompIdProblem => "CompID problem",
            RejectReason::SendingTimeAccuracyProblem => "SendingTime accuracy problem",
            RejectReason::InvalidMsgType => "Invalid MsgType",
            RejectReason::TagAppearsMoreThanOnce => "Tag appears more than once",
            RejectReason::TagSpecifiedOutOfRequiredOrder => "Tag specified out of required order",
            RejectReason::IncorrectNumInGroupCount => "Incorrect NumInGroup count for repeating group",
        }
    }
}

/// One field of a received message; a NumInGroup field carries its group's entries.
#[derive(Debug)]
struct Node<'a> {
    tag: i64,
    value: &'a [u8],
    entries: Option<Vec<Vec<Node<'a>>>>,
}

/// A received message split into header, body and trailer as the dictionary places its fields.
#[derive(Debug)]
struct Msg<'a> {
    raw: &'a [u8],
    header: Vec<Node<'a>>,
    body: Vec<Node<'a>>,
    trailer: Vec<Node<'a>>,
    /// The first field found after a section it does not belong before.
    out_of_order: Option<i64>,
}

fn find<'a>(nodes: &[Node<'a>], tag: i64) -> Option<&'a [u8]> {
    nodes.iter().find(|n| n.tag == tag).map(|n| n.value)
}

impl<'a> Msg<'a> {
    fn header(&self, tag: i64) -> Option<&'a [u8]> {
        find(&self.header, tag)
    }
    fn header_str(&self, tag: i64) -> &'a str {
        self.header(tag).and_then(|v| std::str::from_utf8(v).ok()).unwrap_or("")
    }
    fn body(&self, tag: i64) -> Option<&'a [u8]> {
        find(&self.body, tag)
    }
    fn msg_type(&self) -> &'a str {
        self.header_str(35)
    }
    fn seq(&self) -> Option<u64> {
        self.header(34).and_then(|v| std::str::from_utf8(v).ok()).and_then(|s| s.parse().ok())
    }
    /// The header fields a sender does not fill in anew (routing, PossResend, …), as sent.
    fn kept_header(&self) -> Vec<(i64, Vec<u8>)> {
        self.header.iter().filter(|n| !FILLED.contains(&n.tag)).map(|n| (n.tag, n.value.to_vec())).collect()
    }
    fn flag(&self, tag: i64) -> bool {
        self.header(tag) == Some(b"Y")
    }
}

/// `tag=value` fields of a framed message; `None` when a field has no `=` or its tag is not an
/// integer (QuickFIX ignores such a message as garbled).
fn split_fields(raw: &[u8]) -> Option<Vec<(i64, &[u8])>> {
    let body = raw.strip_suffix(&[SOH]).unwrap_or(raw);
    let mut out = Vec::with_capacity(32);
    for f in body.split(|&b| b == SOH) {
        let eq = f.iter().position(|&b| b == b'=')?;
        let (neg, digits) = match &f[..eq] {
            [b'-', rest @ ..] => (true, rest),
            d => (false, d),
        };
        if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = digits.iter().fold(0i64, |n, d| n * 10 + (d - b'0') as i64);
        out.push((if neg { -n } else { n }, &f[eq + 1..]));
    }
    Some(out)
}

fn as_tag(tag: i64) -> Option<u32> {
    u32::try_from(tag).ok()
}

/// The entries of a group whose NumInGroup field was just read, as QuickFIX's `setGroup` reads
/// them: the delimiter, or a field of the entry already seen in it, starts an entry; a field that
/// is not the entry's ends the group.
fn read_group<'a>(fields: &[(i64, &'a [u8])], i: &mut usize, entry: &Layout) -> Vec<Vec<Node<'a>>> {
    let delim = entry.first().map(i64::from);
    let mut out = Vec::new();
    let mut cur: Option<Vec<Node<'a>>> = None;
    while let Some(&(tag, value)) = fields.get(*i) {
        let member = as_tag(tag).is_some_and(|t| entry.has(t));
        if !member {
            break;
        }
        let starts = Some(tag) == delim || cur.as_ref().is_none_or(|c| c.iter().any(|n| n.tag == tag));
        if starts {
            out.extend(cur.take());
            cur = Some(Vec::new());
        }
        *i += 1;
        let entries = as_tag(tag).and_then(|t| entry.group(t)).map(|e| read_group(fields, i, e));
        if let Some(c) = cur.as_mut() {
            c.push(Node { tag, value, entries });
        }
    }
    out.extend(cur);
    out
}

/// Splits a framed message as QuickFIX's `Message::setString` does. `None`: not a FIX message
/// (a field without `=`, or BeginString, BodyLength, MsgType not the first three fields).
fn parse<'a>(raw: &'a [u8], dict: &Dictionary) -> Option<Msg<'a>> {
    let fields = split_fields(raw)?;
    if fields.len() < 3 || fields[0].0 != 8 || fields[1].0 != 9 || fields[2].0 != 35 {
        return None;
    }
    let body_layout = std::str::from_utf8(fields[2].1).ok().and_then(|t| dict.messages.get(t)).map(|m| &m.body);
    let mut m = Msg { raw, header: Vec::new(), body: Vec::new(), trailer: Vec::new(), out_of_order: None };
    let mut section = 0; // header, body, trailer
    let mut i = 0;
    while let Some(&(tag, value)) = fields.get(i) {
        i += 1;
        let t = as_tag(tag);
        if t.is_some_and(|t| dict.header.has(t)) {
            if section != 0 && m.out_of_order.is_none() {
                m.out_of_order = Some(tag);
            }
            let entries = t.and_then(|t| dict.header.group(t)).map(|e| read_group(&fields, &mut i, e));
            m.header.push(Node { tag, value, entries });
        } else if t.is_some_and(|t| dict.trailer.has(t)) {
            section = 2;
            m.trailer.push(Node { tag, value, entries: None });
        } else {
            if section == 2 && m.out_of_order.is_none() {
                m.out_of_order = Some(tag);
            }
            section = 1;
            let entries = body_layout.and_then(|l| t.and_then(|t| l.group(t))).map(|e| read_group(&fields, &mut i, e));
            m.body.push(Node { tag, value, entries });
        }
    }
    Some(m)
}

type Problem = (RejectReason, i64);

/// Required fields of `nodes` under `layout`, in tag order, then those of every group entry.
fn check_required(nodes: &[Node], layout: &Layout) -> Result<(), Problem> {
    let mut req: Vec<u32> = layout.required().collect();
    req.sort_unstable();
    for t in req {
        if !nodes.iter().any(|n| n.tag == i64::from(t)) {
            return Err((RejectReason::RequiredTagMissing, t.into()));
        }
    }
    for n in nodes {
        if let (Some(entries), Some(entry)) = (&n.entries, as_tag(n.tag).and_then(|t| layout.group(t))) {
            for e in entries {
                check_required(e, entry)?;
            }
        }
    }
    Ok(())
}

/// QuickFIX's `DataDictionary::iterate`: the fields in tag order (BeginString, BodyLength and
/// MsgType first), each checked for repetition, a value, its format, its enumeration, a known
/// tag, its place in the message type (`in_body`) and its group count; then each group entry.
fn check_fields(nodes: &[Node], layout: &Layout, dict: &Dictionary, in_body: bool, user: bool) -> Result<(), Problem> {
    let mut order: Vec<&Node> = nodes.iter().collect();
    order.sort_by_key(|n| match n.tag {
        8 => (0, 0),
        9 => (1, 0),
        35 => (2, 0),
        t => (3, t),
    });
    let mut last = None;
    for n in order {
        if last == Some(n.tag) {
            return Err((RejectReason::TagAppearsMoreThanOnce, n.tag));
        }
        if n.value.is_empty() {
            return Err((RejectReason::TagSpecifiedWithoutValue, n.tag));
        }
        let Some(def) = as_tag(n.tag).and_then(|t| dict.field(t)) else {
            if user && n.tag >= 5000 {
                last = Some(n.tag);
                continue;
            }
            return Err((RejectReason::InvalidTagNumber, n.tag));
        };
        if !def.kind.accepts(n.value) {
            return Err((RejectReason::IncorrectDataFormat, n.tag));
        }
        if !def.allows(n.value) {
            return Err((RejectReason::ValueIsIncorrect, n.tag));
        }
        if in_body && !layout.has(def.tag) && !(user && def.tag >= 5000) {
            return Err((RejectReason::TagNotDefinedForMessageType, n.tag));
        }
        if let Some(entries) = &n.entries {
            if std::str::from_utf8(n.value).ok().and_then(|v| v.parse::<usize>().ok()) != Some(entries.len()) {
                return Err((RejectReason::IncorrectNumInGroupCount, n.tag));
            }
        }
        last = Some(n.tag);
    }
    for n in nodes {
        if let (Some(entries), Some(entry)) = (&n.entries, as_tag(n.tag).and_then(|t| layout.group(t))) {
            for e in entries {
                check_fields(e, entry, dict, true, user)?;
            }
        }
    }
    Ok(())
}

/// QuickFIX's `DataDictionary::validate` on a parsed message.
fn validate(m: &Msg, dict: &Dictionary, user: bool) -> Result<(), Problem> {
    if let Some(t) = m.out_of_order {
        return Err((RejectReason::TagSpecifiedOutOfRequiredOrder, t));
    }
    let Some(def) = dict.messages.get(m.msg_type()) else {
        return Err((RejectReason::InvalidMsgType, 0));
    };
    check_required(&m.header, &dict.header)?;
    check_required(&m.trailer, &dict.trailer)?;
    check_required(&m.body, &def.body)?;
    check_fields(&m.header, &dict.header, dict, false, user)?;
    check_fields(&m.trailer, &dict.trailer, dict, false, user)?;
    check_fields(&m.body, &def.body, dict, true, user)
}

/// Writes fields, each group's entries after its count field.
fn encode_nodes(nodes: &[&Node], out: &mut Vec<u8>) {
    for n in nodes {
        field(out, n.tag, n.value);
        for e in n.entries.iter().flatten() {
            encode_nodes(&e.iter().collect::<Vec<_>>(), out);
        }
    }
}

fn field(out: &mut Vec<u8>, tag: i64, value: &[u8]) {
    out.extend_from_slice(tag.to_string().as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(SOH);
}

/// A body in tag order (as QuickFIX writes a message it re-sends), groups kept with their count.
fn sorted_body(nodes: &[Node]) -> Vec<u8> {
    let mut order: Vec<&Node> = nodes.iter().collect();
    order.sort_by_key(|n| n.tag);
    let mut out = Vec::new();
    encode_nodes(&order, &mut out);
    out
}

/// `YYYYMMDD-HH:MM:SS.sss` of milliseconds since the epoch.
pub fn utc_timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = vigil_core::time::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}-{:02}:{:02}:{:02}.{:03}", s / 3600, s / 60 % 60, s % 60, ms.rem_euclid(1000))
}

/// Milliseconds since the epoch of a UTCTimestamp (`YYYYMMDD-HH:MM:SS[.sss…]`).
pub fn parse_utc_timestamp(v: &[u8]) -> Option<i64> {
    parse_utc_timestamp_ns(v).map(|ns| ns.div_euclid(1_000_000))
}

/// Nanoseconds since the epoch of a UTCTimestamp, to the nanosecond it gives (up to 9 digits).
pub fn parse_utc_timestamp_ns(v: &[u8]) -> Option<i64> {
    if !crate::dict::FieldType::UtcTimestamp.accepts(v) {
        return None;
    }
    let n = |a: usize, b: usize| v[a..b].iter().fold(0i64, |n, d| n * 10 + (d - b'0') as i64);
    let days = vigil_core::time::days_from_civil(n(0, 4), n(4, 6) as u32, n(6, 8) as u32);
    let frac = v.get(18..).unwrap_or_default();
    let ns = frac.iter().fold(0i64, |n, d| n * 10 + (d - b'0') as i64) * 10i64.pow(9 - frac.len().min(9) as u32);
    // Years a timestamp may name but nanoseconds since 1970 cannot hold (beyond 2262) are refused.
    (days * 86_400 + n(9, 11) * 3600 + n(12, 14) * 60 + n(15, 17)).checked_mul(1_000_000_000)?.checked_add(ns)
}

fn is_admin(msg_type: &str) -> bool {
    msg_type.len() == 1 && "0A12345".contains(msg_type)
}

/// The highest HeartBtInt a Logon may ask for, in seconds.
pub const MAX_HEARTBEAT_S: i64 = 3600;
/// The highest sequence number taken (FIX's SeqNum fits 2^31 in practice).
pub const MAX_SEQ: u64 = 1 << 40;
/// How many messages may wait, numbered too high, for a gap to fill.
pub const MAX_QUEUE: usize = 10_000;

/// Header fields a message's sender fills in, which a resent or echoed message gets anew.
const FILLED: [i64; 9] = [8, 9, 35, 34, 49, 52, 56, 43, 122];

/// Why processing stopped: the session must disconnect.
struct Stop(String);

/// One FIX session.
pub struct Session {
    cfg: SessionConfig,
    dict: std::sync::Arc<Dictionary>,
    store: Box<dyn Store>,
    next_out: u64,
    next_in: u64,
    persisted: (u64, u64),
    received_logon: bool,
    sent_logon: bool,
    sent_logout: bool,
    logout_sent_at: i64,
    received_reset: bool,
    /// Replaying queued messages (their SendingTime was checked on arrival).
    replaying: bool,
    heartbeat_ms: i64,
    last_sent: i64,
    last_received: i64,
    test_requests: u32,
    resend_range: Option<(u64, u64)>,
    queue: BTreeMap<u64, Vec<u8>>,
    /// ClOrdIDs seen since the Logon (test mode).
    seen: FxHashSet<Vec<u8>>,
    now: i64,
    out: Vec<Action>,
}

impl Session {
    pub fn new(cfg: SessionConfig, dict: std::sync::Arc<Dictionary>, store: Box<dyn Store>) -> Session {
        let (next_out, next_in) = store.seqnums();
        Session {
            cfg,
            dict,
            store,
            next_out,
            next_in,
            persisted: (next_out, next_in),
            received_logon: false,
            sent_logon: false,
            sent_logout: false,
            logout_sent_at: 0,
            received_reset: false,
            replaying: false,
            heartbeat_ms: 0,
            last_sent: 0,
            last_received: 0,
            test_requests: 0,
            resend_range: None,
            queue: BTreeMap::new(),
            seen: FxHashSet::default(),
            now: 0,
            out: Vec::new(),
        }
    }

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }
    /// (next to send, next expected).
    pub fn seqnums(&self) -> (u64, u64) {
        (self.next_out, self.next_in)
    }
    pub fn is_logged_on(&self) -> bool {
        self.received_logon && self.sent_logon
    }

    /// A new connection starts: the clocks start now.
    pub fn on_connect(&mut self, now: i64) {
        self.last_sent = now;
        self.last_received = now;
    }

    /// The connection closed: the session waits for the next Logon.
    pub fn on_disconnect(&mut self) {
        self.received_logon = false;
        self.sent_logon = false;
        self.sent_logout = false;
        self.received_reset = false;
        self.test_requests = 0;
        self.resend_range = None;
        self.queue.clear();
        self.heartbeat_ms = 0;
    }

    /// One framed message (`Parser::frame` found it whole, with a right BodyLength and
    /// CheckSum), received at `now` (ms since the epoch).
    pub fn on_message(&mut self, raw: &[u8], now: i64) -> Vec<Action> {
        self.now = now;
        let r = self.next(raw, false);
        self.finish(r)
    }

    /// Time passes: heartbeats, test requests, timeouts.
    pub fn on_timer(&mut self, now: i64) -> Vec<Action> {
        self.now = now;
        let r = self.tick();
        self.finish(r)
    }

    /// Keeps the sequence numbers. The connection calls it once it has carried out the actions
    /// of a message, so a message whose number is kept has been handed on: after a crash the
    /// peer resends whatever was not.
    pub fn commit(&mut self) -> Result<(), String> {
        if (self.next_out, self.next_in) != self.persisted {
            self.store.set_seqnums(self.next_out, self.next_in).map_err(|e| format!("cannot keep the sequence numbers: {e}"))?;
            self.persisted = (self.next_out, self.next_in);
        }
        Ok(())
    }

    /// The messages received since the last [`Session::commit`] were not handed on: their
    /// numbers are expected again (at least once, never lost).
    pub fn forget_received(&mut self) {
        self.next_in = self.persisted.1;
    }

    fn finish(&mut self, r: Result<(), Stop>) -> Vec<Action> {
        if let Err(Stop(why)) = r {
            self.out.push(Action::Disconnect(why));
        }
        // Nothing after a disconnect.
        if let Some(i) = self.out.iter().position(|a| matches!(a, Action::Disconnect(_))) {
            self.out.truncate(i + 1);
            self.on_disconnect();
        }
        std::mem::take(&mut self.out)
    }

    fn tick(&mut self) -> Result<(), Stop> {
        if !self.received_logon {
            return Ok(());
        }
        if self.sent_logout && self.now - self.logout_sent_at >= self.cfg.logout_timeout_ms {
            return Err(Stop("timed out waiting for the Logout answer".into()));
        }
        if self.heartbeat_ms == 0 {
            return Ok(());
        }
        let now = self.now;
        if self.sent_logout && now - self.logout_sent_at >= self.cfg.logout_timeout_ms {
            return Err(Stop("timed out waiting for the Logout answer".into()));
        }
        let hb = self.heartbeat_ms as f64;
        let since_sent = (now - self.last_sent) as f64;
        let since_received = (now - self.last_received) as f64;
        if since_sent < hb && since_received < hb {
            return Ok(());
        }
        if since_received >= 2.4 * hb {
            return Err(Stop("timed out waiting for a heartbeat".into()));
        }
        if since_received >= 1.2 * (self.test_requests as f64 + 1.0) * hb {
            self.send_admin("1", &[], &[(112, b"TEST")])?;
            self.test_requests += 1;
        } else if since_sent >= hb && self.test_requests == 0 {
            self.send_admin("0", &[], &[])?;
        }
        Ok(())
    }

    /// QuickFIX's `Session::next(Message)`; `queued` when replaying the queue.
    fn next(&mut self, raw: &[u8], queued: bool) -> Result<(), Stop> {
        let dict = self.dict.clone();
        let Some(m) = parse(raw, &dict) else {
            // Garbled: ignored once logged on; a session that has not logged on is dropped.
            return if self.received_logon { Ok(()) } else { Err(Stop("a garbled message before Logon".into())) };
        };
        let msg_type = m.msg_type();
        if !self.received_logon && msg_type != "A" {
            return Err(Stop(format!("the first message must be a Logon, not {msg_type:?}")));
        }
        if m.header_str(8) != self.cfg.begin_string {
            if msg_type == "5" {
                self.next_logout(&m)?;
            } else {
                self.logout(Some("Incorrect BeginString"))?;
                self.next_in += 1;
            }
            return self.after(queued);
        }
        for tag in [49, 56] {
            if m.header(tag).is_none() {
                if !is_admin(msg_type) {
                    self.business_reject(&m, 5, tag)?;
                } else {
                    self.reject(&m, RejectReason::RequiredTagMissing, tag)?;
                    if msg_type == "A" {
                        return Err(Stop("a Logon without CompIDs".into()));
                    }
                }
                return self.after(queued);
            }
        }
        if let Err((reason, tag)) = validate(&m, &dict, self.cfg.allow_user_fields) {
            if !self.received_logon {
                return Err(Stop(format!("an invalid {msg_type} before Logon: {} ({tag})", reason.text())));
            }
            self.reject(&m, reason, tag)?;
            return self.after(queued);
        }
        match msg_type {
            "A" => self.next_logon(&m, raw)?,
            "0" => {
                if self.verify(&m, raw, true, true)? {
                    self.next_in += 1;
                }
            }
            "1" => {
                if self.verify(&m, raw, true, true)? {
                    let id = m.body(112).unwrap_or_default();
                    let body: &[(i64, &[u8])] = if id.is_empty() { &[] } else { &[(112, id)] };
                    self.send_admin("0", &[], body)?;
                    self.next_in += 1;
                }
            }
            "4" => self.next_sequence_reset(&m, raw)?,
            "5" => self.next_logout(&m)?,
            "2" => self.next_resend_request(&m, raw)?,
            "3" => {
                if self.verify(&m, raw, false, true)? {
                    self.next_in += 1;
                }
            }
            _ => {
                if self.verify(&m, raw, true, true)? && self.application(&m, raw)? {
                    self.next_in += 1;
                }
            }
        }
        self.after(queued)
    }

    fn after(&mut self, queued: bool) -> Result<(), Stop> {
        if !queued {
            self.next_queued()?;
        }
        if self.is_logged_on() {
            self.tick()?;
        }
        Ok(())
    }

    /// The application's side of an application message that passed the session's checks.
    /// `false`: it answered with a BusinessMessageReject (which counted the message in).
    fn application(&mut self, m: &Msg, raw: &[u8]) -> Result<bool, Stop> {
        let msg_type = m.msg_type();
        if self.cfg.echo {
            match msg_type {
                "D" => {
                    let id = m.body(11).unwrap_or_default().to_vec();
                    if m.flag(97) && self.seen.contains(&id) {
                        return Ok(true);
                    }
                    self.seen.insert(id);
                    self.echo(m)?;
                }
                "d" | "C" => self.echo(m)?,
                _ => {
                    self.business_reject(m, 3, 0)?;
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        if DROP_COPY_TYPES.contains(&msg_type) {
            self.out.push(Action::Deliver { msg_type: msg_type.to_string(), raw: raw.to_vec() });
            Ok(true)
        } else {
            self.business_reject(m, 3, 0)?;
            Ok(false)
        }
    }

    /// Sends an application message back as it came (QuickFIX's `sendToTarget`), its header
    /// refilled and its body in tag order.
    fn echo(&mut self, m: &Msg) -> Result<(), Stop> {
        let extras = m.kept_header();
        let body = sorted_body(&m.body);
        self.send_raw(m.msg_type(), extras, &body, None)
    }

    fn next_logon(&mut self, m: &Msg, raw: &[u8]) -> Result<(), Stop> {
        let reset_flag = m.body(141) == Some(b"Y");
        self.received_reset = reset_flag;
        if reset_flag || self.cfg.reset_on_logon {
            self.reset()?;
        }
        if !self.verify(m, raw, false, true)? {
            return Err(Stop("a Logon numbered lower than expected".into()));
        }
        let hb = std::str::from_utf8(m.body(108).unwrap_or_default()).ok().and_then(|s| s.parse::<i64>().ok()).unwrap_or(-1);
        if !(0..=MAX_HEARTBEAT_S).contains(&hb) {
            return Err(Stop(format!("a Logon with HeartBtInt {hb}, outside 0 to {MAX_HEARTBEAT_S} s")));
        }
        self.received_logon = true;
        self.heartbeat_ms = hb * 1000;
        let mut body: Vec<(i64, &[u8])> = vec![(98, b"0")];
        let hb = (self.heartbeat_ms / 1000).to_string();
        body.push((108, hb.as_bytes()));
        if self.received_reset {
            body.push((141, b"Y"));
        }
        self.send_admin("A", &[], &body)?;
        self.sent_logon = true;
        self.received_reset = false;
        self.seen.clear();
        let seq = m.seq().unwrap_or(0);
        if seq > self.next_in && !reset_flag {
            self.too_high(m, raw)?;
        } else {
            self.next_in += 1;
            self.next_queued()?;
        }
        Ok(())
    }

    fn reset(&mut self) -> Result<(), Stop> {
        self.store.reset().map_err(|e| Stop(format!("cannot reset the store: {e}")))?;
        self.next_out = 1;
        self.next_in = 1;
        self.persisted = (1, 1);
        self.queue.clear();
        self.resend_range = None;
        Ok(())
    }

    fn valid_logon_state(&self, msg_type: &str) -> bool {
        self.received_reset
            || (msg_type == "A" && !self.received_logon)
            || (msg_type != "A" && self.received_logon)
            || (msg_type == "5" && self.sent_logon)
            || (msg_type != "5" && self.sent_logout)
            || msg_type == "4"
            || msg_type == "3"
    }

    /// QuickFIX's `Session::verify`: logon state, SendingTime, CompIDs, then the sequence number
    /// (too high: queued and a gap asked for; too low: a PossDup is ignored, anything else ends
    /// the session). `Ok(false)`: the message is not processed further.
    fn verify(&mut self, m: &Msg, raw: &[u8], check_high: bool, check_low: bool) -> Result<bool, Stop> {
        let msg_type = m.msg_type();
        if !self.valid_logon_state(msg_type) {
            return Err(Stop(format!("a {msg_type} message is not valid in this logon state")));
        }
        let sent = m.header(52).and_then(parse_utc_timestamp);
        // A queued message was checked when it arrived.
        if !self.replaying && sent.is_none_or(|t| (self.now - t).abs() > self.cfg.max_latency_ms) {
            self.reject(m, RejectReason::SendingTimeAccuracyProblem, 0)?;
            self.logout(None)?;
            return Ok(false);
        }
        if m.header_str(49) != self.cfg.target_comp_id || m.header_str(56) != self.cfg.sender_comp_id {
            self.reject(m, RejectReason::CompIdProblem, 0)?;
            self.logout(None)?;
            return Ok(false);
        }
        let seq = m.seq();
        if check_high || check_low {
            let Some(seq) = seq.filter(|s| *s <= MAX_SEQ) else {
                return Err(Stop(format!("MsgSeqNum {:?} is missing or beyond {MAX_SEQ}", m.header_str(34))));
            };
            if check_high && seq > self.next_in {
                self.too_high(m, raw)?;
                return Ok(false);
            }
            if check_low && seq < self.next_in {
                self.too_low(m, seq)?;
                return Ok(false);
            }
            if let Some((_, end)) = self.resend_range {
                if seq >= end {
                    self.resend_range = None;
                }
            }
        }
        self.last_received = self.now;
        self.test_requests = 0;
        Ok(true)
    }

    fn too_high(&mut self, m: &Msg, raw: &[u8]) -> Result<(), Stop> {
        let seq = m.seq().unwrap_or(0);
        if self.queue.len() >= MAX_QUEUE && !self.queue.contains_key(&seq) {
            let why = format!("more than {MAX_QUEUE} messages wait for the gap from {} to fill", self.next_in);
            self.logout(Some(&why))?;
            return Err(Stop(why));
        }
        self.queue.entry(seq).or_insert_with(|| raw.to_vec());
        if let Some((begin, _)) = self.resend_range {
            if seq >= begin {
                return Ok(());
            }
        }
        let begin = self.next_in.to_string();
        self.send_admin("2", &[], &[(7, begin.as_bytes()), (16, b"0")])?;
        self.resend_range = Some((self.next_in, seq - 1));
        Ok(())
    }

    fn too_low(&mut self, m: &Msg, seq: u64) -> Result<(), Stop> {
        if !m.flag(43) {
            let why = format!("MsgSeqNum too low, expecting {} but received {seq}", self.next_in);
            self.logout(Some(&why))?;
            return Err(Stop(why));
        }
        // A possible duplicate: ignored, once its OrigSendingTime is checked.
        if m.msg_type() != "4" {
            let Some(orig) = m.header(122) else {
                return self.reject(m, RejectReason::RequiredTagMissing, 122);
            };
            let sending = m.header(52).and_then(parse_utc_timestamp);
            if parse_utc_timestamp(orig).zip(sending).is_some_and(|(o, s)| o > s) {
                self.reject(m, RejectReason::SendingTimeAccuracyProblem, 0)?;
                self.logout(None)?;
            }
        }
        Ok(())
    }

    fn next_queued(&mut self) -> Result<(), Stop> {
        while let Some(raw) = self.queue.remove(&self.next_in) {
            let dict = self.dict.clone();
            let t = parse(&raw, &dict).map(|m| m.msg_type().to_string()).unwrap_or_default();
            if t == "A" || t == "2" {
                self.next_in += 1;
            } else {
                self.replaying = true;
                let r = self.next(&raw, true);
                self.replaying = false;
                r?;
            }
        }
        Ok(())
    }

    fn next_sequence_reset(&mut self, m: &Msg, raw: &[u8]) -> Result<(), Stop> {
        let gap_fill = m.body(123) == Some(b"Y");
        if !self.verify(m, raw, gap_fill, gap_fill)? {
            return Ok(());
        }
        if let Some(new) = m.body(36).and_then(|v| std::str::from_utf8(v).ok()).and_then(|v| v.parse::<u64>().ok()) {
            if new > MAX_SEQ {
                self.reject(m, RejectReason::ValueIsIncorrect, 36)?;
            } else if new > self.next_in {
                self.next_in = new;
                // Whatever waited below the new number will never be processed.
                self.queue = self.queue.split_off(&new);
            } else if new < self.next_in {
                self.reject(m, RejectReason::ValueIsIncorrect, 0)?;
            }
        }
        Ok(())
    }

    fn next_logout(&mut self, m: &Msg) -> Result<(), Stop> {
        // Not checked for sequence: a Logout is answered whatever its number.
        let raw_ok = self.verify(m, &[], false, false)?;
        if !raw_ok {
            return Ok(());
        }
        if !self.sent_logout {
            self.logout(None)?;
        }
        self.next_in += 1;
        Err(Stop(if self.sent_logout { "logged out".into() } else { "the peer logged out".into() }))
    }

    fn next_resend_request(&mut self, m: &Msg, raw: &[u8]) -> Result<(), Stop> {
        if !self.verify(m, raw, false, false)? {
            return Ok(());
        }
        let num = |tag| m.body(tag).and_then(|v| std::str::from_utf8(v).ok()).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let begin = num(7);
        let mut end = num(16);
        let expected_out = self.next_out;
        if end == 0 || (self.cfg.begin_string.as_str() <= "FIX.4.2" && end == 999_999) || end >= expected_out {
            end = expected_out - 1;
        }
        let dict = self.dict.clone();
        let mut gap_from = 0u64;
        let mut current = begin;
        let mut last = 0u64;
        for (seq, stored) in self.store.range(begin, end) {
            let Some(sm) = parse(&stored, &dict) else { continue };
            if current != seq && gap_from == 0 {
                gap_from = current;
            }
            if is_admin(sm.msg_type()) {
                if gap_from == 0 {
                    gap_from = seq;
                }
            } else {
                if gap_from != 0 {
                    self.gap_fill(gap_from, seq)?;
                }
                let mut extras = sm.kept_header();
                extras.push((43, b"Y".to_vec()));
                extras.push((122, sm.header(52).unwrap_or_default().to_vec()));
                let mut body = Vec::new();
                encode_nodes(&sm.body.iter().collect::<Vec<_>>(), &mut body);
                self.send_raw(sm.msg_type(), extras, &body, Some(seq))?;
                gap_from = 0;
            }
            current = seq + 1;
            last = seq;
        }
        if gap_from != 0 {
            self.gap_fill(gap_from, last + 1)?;
        }
        if end > last {
            let from = if last > 0 { last + 1 } else { begin };
            let to = (end + 1).min(self.next_out);
            if to > from {
                self.gap_fill(from, to)?;
            }
        }
        if let Some(seq) = m.seq() {
            if seq == self.next_in {
                self.next_in += 1;
            }
        }
        Ok(())
    }

    fn gap_fill(&mut self, begin: u64, new_seq: u64) -> Result<(), Stop> {
        let now = utc_timestamp(self.now).into_bytes();
        let new_seq = new_seq.to_string();
        let mut body = Vec::new();
        field(&mut body, 36, new_seq.as_bytes());
        field(&mut body, 123, b"Y");
        self.send_raw("4", vec![(43, b"Y".to_vec()), (122, now)], &body, Some(begin))
    }

    fn logout(&mut self, text: Option<&str>) -> Result<(), Stop> {
        let body: Vec<(i64, &[u8])> = text.map(|t| (58, t.as_bytes())).into_iter().collect();
        self.send_admin("5", &[], &body)?;
        if !self.sent_logout {
            self.logout_sent_at = self.now;
        }
        self.sent_logout = true;
        Ok(())
    }

    /// The routing fields of a message, reversed for the answer to it.
    fn reverse_route(m: &Msg) -> Vec<(i64, Vec<u8>)> {
        let mut v = Vec::new();
        for (from, to) in [(115, 128), (128, 115), (116, 129), (129, 116), (144, 145), (145, 144)] {
            if let Some(x) = m.header(from).filter(|x| !x.is_empty()) {
                v.push((to, x.to_vec()));
            }
        }
        v
    }

    /// A session Reject (QuickFIX's `generateReject`); `tag` 0 names no field.
    fn reject(&mut self, m: &Msg, reason: RejectReason, tag: i64) -> Result<(), Stop> {
        if !self.received_logon {
            return Err(Stop(format!("{} before Logon", reason.text())));
        }
        let msg_type = m.msg_type();
        let seq = m.header(34).filter(|v| !v.is_empty());
        let mut body: Vec<(i64, Vec<u8>)> = Vec::new();
        if let Some(s) = seq {
            body.push((45, s.to_vec()));
        }
        body.push((58, reason.text().as_bytes().to_vec()));
        if tag != 0 || reason == RejectReason::InvalidTagNumber {
            body.push((371, tag.to_string().into_bytes()));
        }
        if !msg_type.is_empty() {
            body.push((372, msg_type.as_bytes().to_vec()));
        }
        if self.cfg.begin_string.as_str() > "FIX.4.2" || (reason as u32) <= RejectReason::InvalidMsgType as u32 {
            body.push((373, (reason as u32).to_string().into_bytes()));
        }
        if msg_type != "A" && msg_type != "4" && m.seq() == Some(self.next_in) {
            self.next_in += 1;
        }
        if !is_admin(msg_type) {
            let why = if tag != 0 { format!("{} ({tag})", reason.text()) } else { reason.text().to_string() };
            self.out.push(Action::Refused { raw: m.raw.to_vec(), reason: why });
        }
        let mut bytes = Vec::new();
        for (t, v) in &body {
            field(&mut bytes, *t, v);
        }
        self.send_raw("3", Self::reverse_route(m), &bytes, None)
    }

    /// A BusinessMessageReject (35=j): reason 3 (unsupported message type) or 5 (conditionally
    /// required field missing, naming `tag`).
    fn business_reject(&mut self, m: &Msg, reason: u32, tag: i64) -> Result<(), Stop> {
        if !self.received_logon {
            return Err(Stop("an application message before Logon".into()));
        }
        let text = match reason {
            3 => "Unsupported Message Type".to_string(),
            _ => format!("Conditionally Required Field Missing ({tag})"),
        };
        let mut bytes = Vec::new();
        if let Some(s) = m.header(34) {
            field(&mut bytes, 45, s);
        }
        field(&mut bytes, 58, text.as_bytes());
        field(&mut bytes, 372, m.msg_type().as_bytes());
        field(&mut bytes, 380, reason.to_string().as_bytes());
        if m.seq() == Some(self.next_in) {
            self.next_in += 1;
        }
        self.out.push(Action::Refused { raw: m.raw.to_vec(), reason: text.clone() });
        self.send_raw("j", Self::reverse_route(m), &bytes, None)
    }

    fn send_admin(&mut self, msg_type: &str, extras: &[(i64, Vec<u8>)], body: &[(i64, &[u8])]) -> Result<(), Stop> {
        let mut bytes = Vec::new();
        for (t, v) in body {
            field(&mut bytes, *t, v);
        }
        self.send_raw(msg_type, extras.to_vec(), &bytes, None)
    }

    /// QuickFIX's `sendRaw`: the header filled (34, 49, 52, 56 and `extras`, in tag order after
    /// 8, 9, 35), the message kept in the store unless it is a resend (`seq` given), and sent
    /// when the session is logged on or it is a Logon, Logout, ResendRequest or SequenceReset.
    fn send_raw(&mut self, msg_type: &str, extras: Vec<(i64, Vec<u8>)>, body: &[u8], seq: Option<u64>) -> Result<(), Stop> {
        let num = seq.unwrap_or(self.next_out);
        let mut header: Vec<(i64, Vec<u8>)> = vec![
            (34, num.to_string().into_bytes()),
            (49, self.cfg.sender_comp_id.clone().into_bytes()),
            (52, utc_timestamp(self.now).into_bytes()),
            (56, self.cfg.target_comp_id.clone().into_bytes()),
        ];
        header.extend(extras);
        header.sort_by_key(|(t, _)| *t);
        let mut inner = Vec::with_capacity(64 + body.len());
        field(&mut inner, 35, msg_type.as_bytes());
        for (t, v) in &header {
            field(&mut inner, *t, v);
        }
        inner.extend_from_slice(body);
        let mut raw = Vec::with_capacity(inner.len() + 24);
        crate::encode(&self.cfg.begin_string, &inner, &mut raw);
        if seq.is_none() {
            self.store.save(num, &raw).map_err(|e| Stop(format!("cannot keep a sent message: {e}")))?;
            self.next_out += 1;
        }
        let sendable = if is_admin(msg_type) { matches!(msg_type, "A" | "5" | "2" | "4") || self.is_logged_on() } else { self.is_logged_on() };
        if sendable {
            self.last_sent = self.now;
            self.out.push(Action::Send(raw));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_millisecond() {
        let ms = 1_767_621_600_123; // 2026-01-05T14:00:00.123Z
        assert_eq!(utc_timestamp(ms), "20260105-14:00:00.123");
        assert_eq!(parse_utc_timestamp(b"20260105-14:00:00.123"), Some(ms));
        assert_eq!(parse_utc_timestamp(b"20260105-14:00:00"), Some(ms - 123));
        assert_eq!(parse_utc_timestamp(b"20260105-14:00:00.1"), Some(ms - 23));
        assert_eq!(parse_utc_timestamp(b"20260105-14:00:00.123456"), Some(ms));
        assert_eq!(parse_utc_timestamp(b"2026-01-05"), None);
        assert_eq!(parse_utc_timestamp_ns(b"20260105-14:00:00.123456789"), Some(ms * 1_000_000 + 456_789));
        assert_eq!(parse_utc_timestamp_ns(b"20260105-14:00:00.5"), Some((ms - 123) * 1_000_000 + 500_000_000));
        // Found by the fix_session fuzz target: a year beyond 2262 overflowed.
        assert_eq!(parse_utc_timestamp_ns(b"99991231-23:59:59"), None);
        assert_eq!(parse_utc_timestamp(b"99991231-23:59:59"), None);
    }

    const NOW: i64 = 1_767_621_600_000;

    fn dict() -> std::sync::Arc<Dictionary> {
        std::sync::Arc::new(Dictionary::builtin("FIX.4.4").unwrap())
    }

    fn session(store: Box<dyn Store>) -> Session {
        Session::new(SessionConfig::new("FIX.4.4", "VIGIL", "BRK"), dict(), store)
    }

    /// A message from the peer: `body` from MsgType on, without 49, 52, 56.
    fn msg(seq: u64, body: &str) -> Vec<u8> {
        let (ty, rest) = body.split_once('|').unwrap_or((body, ""));
        let text = format!("{ty}|34={seq}|49=BRK|52={}|56=VIGIL|{rest}", utc_timestamp(NOW));
        let mut out = Vec::new();
        crate::encode("FIX.4.4", text.replace('|', "\u{1}").as_bytes(), &mut out);
        out
    }

    fn sent(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(b) => Some(String::from_utf8_lossy(b).replace('\u{1}', "|")),
                _ => None,
            })
            .collect()
    }

    fn logon(s: &mut Session, seq: u64) -> Vec<Action> {
        s.on_connect(NOW);
        s.on_message(&msg(seq, "35=A|98=0|108=30|"), NOW)
    }

    const ER: &str = "35=8|37=O1|11=C1|17=E1|150=0|39=0|1=ACC|54=1|55=INTC|38=10|40=2|44=5|151=10|14=0|6=0|60=20260105-14:00:00|";

    #[test]
    fn drop_copies_are_delivered_and_what_is_refused_is_said_and_kept() {
        let mut s = session(Box::new(MemoryStore::default()));
        let a = logon(&mut s, 1);
        assert!(sent(&a)[0].contains("|35=A|34=1|"), "{a:?}");
        let a = s.on_message(&msg(2, ER), NOW);
        assert!(matches!(&a[..], [Action::Deliver { msg_type, .. }] if msg_type == "8"), "{a:?}");
        // A venue's own field (5000 and up) is taken.
        let a = s.on_message(&msg(3, &format!("{ER}9001=X|")), NOW);
        assert!(matches!(&a[..], [Action::Deliver { .. }]), "{a:?}");
        // A message type a drop copy does not carry: refused, kept, counted in.
        let a = s.on_message(&msg(4, "35=R|131=Q1|146=1|55=INTC|"), NOW);
        assert!(sent(&a)[0].contains("|35=j|") && sent(&a)[0].contains("|380=3|"), "{a:?}");
        assert!(a.iter().any(|x| matches!(x, Action::Refused { reason, .. } if reason.contains("Unsupported"))));
        // An invalid ExecutionReport: a session Reject naming the field, and the message kept.
        let a = s.on_message(&msg(5, &ER.replace("54=1", "54=Z")), NOW);
        assert!(sent(&a)[0].contains("|35=3|") && sent(&a)[0].contains("|371=54|"), "{a:?}");
        assert!(a.iter().any(|x| matches!(x, Action::Refused { reason, .. } if reason.contains("(54)"))));
        assert_eq!(s.seqnums(), (4, 6));
    }

    #[test]
    fn a_connection_that_does_not_log_on_properly_is_dropped() {
        let mut s = session(Box::new(MemoryStore::default()));
        s.on_connect(NOW);
        let a = s.on_message(&msg(1, "35=4|36=50|"), NOW);
        assert!(matches!(&a[..], [Action::Disconnect(w)] if w.contains("Logon")), "{a:?}");
        assert_eq!(s.seqnums(), (1, 1), "a SequenceReset before Logon changes nothing");
        for hb in ["-5", "999999", "x"] {
            let a = s.on_message(&msg(1, &format!("35=A|98=0|108={hb}|")), NOW);
            assert!(matches!(a.last(), Some(Action::Disconnect(_))), "108={hb}: {a:?}");
            assert!(!s.is_logged_on());
        }
    }

    #[test]
    fn a_long_queue_replays_without_recursing_and_an_endless_one_is_refused() {
        let mut s = session(Box::new(MemoryStore::default()));
        logon(&mut s, 1);
        let n = 5_000;
        for seq in 3..3 + n {
            s.on_message(&msg(seq, "35=0|"), NOW);
        }
        let a = s.on_message(&msg(2, "35=0|"), NOW);
        assert!(!a.iter().any(|x| matches!(x, Action::Disconnect(_))), "{a:?}");
        assert_eq!(s.seqnums().1, 3 + n);
        let mut s = session(Box::new(MemoryStore::default()));
        logon(&mut s, 1);
        let mut last = Vec::new();
        for seq in 3..4 + MAX_QUEUE as u64 {
            last = s.on_message(&msg(seq, "35=0|"), NOW);
        }
        assert!(matches!(last.last(), Some(Action::Disconnect(w)) if w.contains("wait for the gap")), "{last:?}");
    }

    #[test]
    fn sequence_numbers_survive_a_restart_and_a_logon_below_them_is_refused() {
        let dir = std::env::temp_dir().join(format!("vigil-fix-restart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let mut s = session(Box::new(FileStore::open(&dir).unwrap()));
            for a in [logon(&mut s, 1), s.on_message(&msg(2, ER), NOW), s.on_message(&msg(3, "35=1|112=T|"), NOW)] {
                assert!(!a.iter().any(|x| matches!(x, Action::Disconnect(_))), "{a:?}");
                s.commit().unwrap();
            }
            assert_eq!(s.seqnums(), (3, 4));
        }
        let mut s = session(Box::new(FileStore::open(&dir).unwrap()));
        assert_eq!(s.seqnums(), (3, 4));
        let a = logon(&mut s, 2);
        assert!(matches!(a.last(), Some(Action::Disconnect(w)) if w.contains("too low")), "{a:?}");
        // The Logout that refused it took number 3.
        let a = logon(&mut s, 4);
        assert!(sent(&a)[0].contains("|35=A|34=4|"), "{a:?}");
        // The peer asks for what it missed: the ExecutionReport is not ours, so one GapFill
        // covers the Logons, the heartbeat and the Logout we sent.
        let a = s.on_message(&msg(5, "35=2|7=1|16=0|"), NOW);
        let out = sent(&a);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].contains("|35=4|34=1|43=Y|") && out[0].contains("|36=5|123=Y|"), "{out:?}");
        s.commit().unwrap();
        // A message the application could not keep is expected again.
        let a = s.on_message(&msg(6, ER), NOW);
        assert!(matches!(&a[..], [Action::Deliver { .. }]));
        s.forget_received();
        assert_eq!(s.seqnums().1, 6);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tags_that_are_not_integers_make_a_message_garbled() {
        assert!(split_fields(b"8=FIX.4.4\x014garbled9=TW\x01").is_none());
        assert!(split_fields(b"8=FIX.4.4\x01novalue\x01").is_none());
        let f = split_fields(b"8=FIX.4.4\x01-1=HI\x010=X\x0156=\x01").unwrap();
        assert_eq!(f.iter().map(|x| x.0).collect::<Vec<_>>(), [8, -1, 0, 56]);
        assert_eq!(f[3].1, b"");
    }

    #[test]
    fn a_file_store_keeps_numbers_and_messages_across_a_reopen_and_drops_a_torn_record() {
        let dir = std::env::temp_dir().join(format!("vigil-fix-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let mut s = FileStore::open(&dir).unwrap();
            assert_eq!(s.seqnums(), (1, 1));
            s.save(1, b"8=FIX.4.4\x01one\x01").unwrap();
            s.save(2, b"two\nlines").unwrap();
            s.set_seqnums(3, 7).unwrap();
        }
        // A crash in the middle of a record.
        std::fs::OpenOptions::new().append(true).open(dir.join("messages")).unwrap().write_all(b"3 100\npartial").unwrap();
        let mut s = FileStore::open(&dir).unwrap();
        assert_eq!(s.seqnums(), (3, 7));
        assert_eq!(s.range(1, 9), vec![(1, b"8=FIX.4.4\x01one\x01".to_vec()), (2, b"two\nlines".to_vec())]);
        // The torn record is cut off, so the next one is read back whole.
        s.save(3, b"three").unwrap();
        drop(s);
        let mut s = FileStore::open(&dir).unwrap();
        assert_eq!(s.range(3, 3), vec![(3, b"three".to_vec())]);
        s.reset().unwrap();
        assert_eq!(FileStore::open(&dir).unwrap().seqnums(), (1, 1));
        assert!(FileStore::open(&dir).unwrap().range(1, 9).is_empty());
        std::fs::write(dir.join("seqnums"), "x").unwrap();
        assert!(FileStore::open(&dir).unwrap_err().to_string().contains("seqnums"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
