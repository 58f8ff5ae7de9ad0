//! The append-only, hash-chained audit log. Entry `n` stores the hash of entry `n - 1` and its own:
//! SHA-256 over the previous hash and the canonical JSON of `[seq, at, actor, action, object_type,
//! object_id, details]`. Changing a byte of an entry breaks its hash; deleting or reordering
//! entries breaks the sequence or the links; removing the newest entries is caught by the head
//! record kept beside the log (`audit_head`), which `vigil audit verify` also prints so that it can
//! be anchored outside the database.

use crate::db::{Conn, Value};
use crate::{Error, Result};
use sha2::{Digest, Sha256};

/// The previous hash of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry of the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub seq: i64,
    /// Wall-clock time of the action (ns).
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    /// JSON text.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash an entry must have: over its `prev_hash` and its fields (not its stored `hash`).
pub fn digest(e: &Entry) -> String {
    let canonical = serde_json::json!([e.seq, e.at, e.actor, e.action, e.object_type, e.object_id, e.details]).to_string();
    let mut h = Sha256::new();
    h.update(e.prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex(&h.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Appends an entry; the caller's transaction was begun with `serial` (it holds the log's lock).
pub(crate) fn append(c: &mut Conn, at: i64, actor: &str, action: &str, object_type: &str, object_id: &str, details: &serde_json::Value) -> Result<Entry> {
    let mut chain = Chain::read(c)?;
    let e = chain.push(c, at, actor, action, object_type, object_id, details)?;
    chain.write(c)?;
    Ok(e)
}

/// The log's head, held through a batch of appends: read once, written once (group commit).
pub(crate) struct Chain {
    seq: i64,
    hash: String,
    stored: bool,
}

impl Chain {
    pub(crate) fn read(c: &mut Conn) -> Result<Chain> {
        let head = c.query("SELECT seq, hash FROM audit_head WHERE id = 1", &[])?;
        Ok(match head.first() {
            Some(r) => Chain { seq: r[0].int().unwrap_or(0), hash: r[1].text().unwrap_or(GENESIS).to_string(), stored: true },
            None => Chain { seq: 0, hash: GENESIS.to_string(), stored: false },
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        c: &mut Conn,
        at: i64,
        actor: &str,
        action: &str,
        object_type: &str,
        object_id: &str,
        details: &serde_json::Value,
    ) -> Result<Entry> {
        let mut e = Entry {
            seq: self.seq + 1,
            at,
            actor: actor.into(),
            action: action.into(),
            object_type: object_type.into(),
            object_id: object_id.into(),
            details: details.to_string(),
            prev_hash: self.hash.clone(),
            hash: String::new(),
        };
        e.hash = digest(&e);
        c.exec(
            "INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                e.seq.into(),
                e.at.into(),
                e.actor.as_str().into(),
                e.action.as_str().into(),
                e.object_type.as_str().into(),
                e.object_id.as_str().into(),
                e.details.as_str().into(),
                e.prev_hash.as_str().into(),
                e.hash.as_str().into(),
            ],
        )?;
        self.seq = e.seq;
        self.hash.clone_from(&e.hash);
        Ok(e)
    }

    pub(crate) fn write(&mut self, c: &mut Conn) -> Result<()> {
        if self.stored {
            c.exec("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &[self.seq.into(), self.hash.as_str().into()])?;
        } else if self.seq > 0 {
            c.exec("INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)", &[self.seq.into(), self.hash.as_str().into()])?;
            self.stored = true;
        }
        Ok(())
    }
}

fn entry(r: &[Value]) -> Result<Entry> {
    let text = |i: usize| r[i].text().map(str::to_string).ok_or_else(|| Error::Db(format!("audit_log column {i} is not text")));
    Ok(Entry {
        seq: r[0].int().ok_or_else(|| Error::Db("audit_log.seq is not a number".into()))?,
        at: r[1].int().ok_or_else(|| Error::Db("audit_log.at is not a number".into()))?,
        actor: text(2)?,
        action: text(3)?,
        object_type: text(4)?,
        object_id: text(5)?,
        details: text(6)?,
        prev_hash: text(7)?,
        hash: text(8)?,
    })
}

pub(crate) const COLUMNS: &str = "seq, at, actor, action, object_type, object_id, details, prev_hash, hash";

pub(crate) fn entries(c: &mut Conn, after: i64, limit: i64) -> Result<Vec<Entry>> {
    let rows = c.query(&format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"), &[after.into(), limit.into()])?;
    rows.iter().map(|r| entry(r)).collect()
}

/// The entries about one object (a case, an alert), oldest first.
pub(crate) fn entries_of(c: &mut Conn, object_type: &str, object_id: &str) -> Result<Vec<Entry>> {
    let rows =
        c.query(&format!("SELECT {COLUMNS} FROM audit_log WHERE object_type = $1 AND object_id = $2 ORDER BY seq"), &[object_type.into(), object_id.into()])?;
    rows.iter().map(|r| entry(r)).collect()
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq)]
pub struct Verification {
    /// Entries read.
    pub entries: u64,
    /// The last good entry: (seq, hash).
    pub head: Option<(i64, String)>,
    /// The first entry that fails, and why; `None`: the chain holds.
    pub failure: Option<(i64, String)>,
}

/// Walks the log in order, in pages, and stops at the first entry that fails.
pub(crate) fn verify(c: &mut Conn) -> Result<Verification> {
    let mut v = Verification { entries: 0, head: None, failure: None };
    let mut prev_hash = GENESIS.to_string();
    let mut expect = 1i64;
    loop {
        let page = entries(c, expect - 1, 10_000)?;
        if page.is_empty() {
            break;
        }
        for e in page {
            let fail = if e.seq != expect {
                Some(format!("expected entry {expect} next, found {}: entries are missing or out of order", e.seq))
            } else if e.prev_hash != prev_hash {
                Some(format!("its previous hash {} is not entry {}'s hash {}", short(&e.prev_hash), expect - 1, short(&prev_hash)))
            } else {
                let h = digest(&e);
                (h != e.hash).then(|| format!("its content does not match its hash (stored {}, computed {})", short(&e.hash), short(&h)))
            };
            if let Some(why) = fail {
                v.failure = Some((e.seq.min(expect), why));
                return Ok(v);
            }
            v.entries += 1;
            prev_hash = e.hash.clone();
            v.head = Some((e.seq, e.hash));
            expect += 1;
        }
    }
    // The newest entries cannot vouch for their own absence: the head record does.
    let head = c.query("SELECT seq, hash FROM audit_head WHERE id = 1", &[])?;
    if let Some(r) = head.first() {
        let (seq, hash) = (r[0].int().unwrap_or(0), r[1].text().unwrap_or("").to_string());
        let last = v.head.as_ref().map_or(0, |h| h.0);
        if seq != last || v.head.as_ref().is_some_and(|h| h.1 != hash) {
            v.failure = Some((
                last + 1,
                format!("the log ends at entry {last} but its head record names entry {seq} ({}): entries were removed from the end", short(&hash)),
            ));
        }
    } else if v.entries > 0 {
        v.failure = Some((1, "the head record is missing".into()));
    }
    Ok(v)
}

/// The first 12 characters of a hash (a tampered one may hold anything).
pub fn short(h: &str) -> String {
    h.chars().take(12).collect()
}
