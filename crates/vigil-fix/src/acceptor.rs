//! The TCP side of the acceptor: one thread per connection. The first whole message names the
//! session (BeginString, SenderCompID, TargetCompID); a connection that names none, or a session
//! another connection holds, is closed. Then every framed message goes to the [`Session`], the
//! timer runs every 100 ms, and the session's [`Action`]s are carried out: bytes written,
//! application messages handed to the sink, the connection closed.
//!
//! Bytes that do not frame (a wrong BodyLength or CheckSum, garbage) are skipped once the session
//! is logged on, as FIX asks; before that they end the connection.

use crate::session::{Action, Session, SessionConfig};
use crate::Parser;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Where application messages go.
pub trait App: Send + Sync {
    /// An application message the session accepted in sequence: its MsgType and bytes. An
    /// error closes the connection and the peer sends the message again.
    fn deliver(&self, session: &SessionConfig, msg_type: &str, raw: &[u8]) -> Result<(), String>;
    /// Makes what was delivered safe (a journal synced to disk): the session keeps its sequence
    /// numbers only after this returns `Ok`, once for all the messages one read brought.
    fn sync(&self) -> Result<(), String> {
        Ok(())
    }
    /// An application message the session refused with a Reject, and why: to be kept.
    fn refused(&self, _session: &SessionConfig, _raw: &[u8], _reason: &str) {}
    /// The session has been quiet for a moment (no message for [`IDLE`]).
    fn idle(&self, _session: &SessionConfig) {}
    /// The session's connection closed.
    fn disconnected(&self, _session: &SessionConfig) {}
}

/// Takes nothing (the acceptance suite's test mode answers on its own).
pub struct NoApp;

impl App for NoApp {
    fn deliver(&self, _: &SessionConfig, _: &str, _: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// How long a connection may stay without logging on.
const LOGON_TIMEOUT_MS: i64 = 10_000;
/// How long a write may wait for a peer that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes held for a message that has not arrived whole.
const MAX_BUFFER: usize = crate::MAX_MESSAGE + (1 << 16);
/// The most connections at once.
const MAX_CONNECTIONS: usize = 256;
/// How often a connection wakes to run its session's timer.
const TICK: Duration = Duration::from_millis(100);
/// How long without a message makes a session idle for [`App::idle`].
pub const IDLE: Duration = Duration::from_millis(250);

struct Slot {
    config: SessionConfig,
    session: Mutex<Session>,
    connected: AtomicBool,
}

/// Frees a session when its connection's thread ends, however it ends.
struct Held<'a> {
    slot: Arc<Slot>,
    app: &'a dyn App,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut session = self.slot.lock();
        session.on_disconnect();
        if self.app.sync().is_ok() {
            let _ = session.commit();
        }
        self.app.disconnected(&self.slot.config);
        drop(session);
        self.slot.connected.store(false, Ordering::SeqCst);
    }
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Milliseconds since the epoch, from the wall clock: FIX sessions run in wall time.
#[allow(clippy::disallowed_methods)]
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The sessions an acceptor serves and where their application messages go.
#[derive(Clone)]
pub struct Acceptor {
    slots: Arc<Vec<Arc<Slot>>>,
    app: Arc<dyn App>,
    live: Arc<std::sync::atomic::AtomicUsize>,
}

impl Acceptor {
    pub fn new(sessions: Vec<Session>, app: Arc<dyn App>) -> Acceptor {
        let slots =
            sessions.into_iter().map(|s| Arc::new(Slot { config: s.config().clone(), session: Mutex::new(s), connected: AtomicBool::new(false) })).collect();
        Acceptor { slots: Arc::new(slots), app, live: Arc::new(std::sync::atomic::AtomicUsize::new(0)) }
    }

    /// Accepts connections for as long as the process runs; an error accepting one (out of
    /// file descriptors, say) is reported and the next is waited for.
    pub fn serve(&self, listener: TcpListener) {
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("vigil fix: accepting a connection: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            if self.live.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                let _ = stream.shutdown(Shutdown::Both);
                continue;
            }
            self.live.fetch_add(1, Ordering::SeqCst);
            let me = self.clone();
            let live = self.live.clone();
            let spawned = std::thread::Builder::new().name("fix-connection".into()).spawn(move || {
                me.connection(stream);
                live.fetch_sub(1, Ordering::SeqCst);
            });
            if let Err(e) = spawned {
                self.live.fetch_sub(1, Ordering::SeqCst);
                eprintln!("vigil fix: cannot start a connection's thread: {e}");
            }
        }
    }

    /// The session a first message names, if it is free; it is then held by the caller.
    fn bind(&self, raw: &[u8], n: usize) -> Option<Arc<Slot>> {
        let mut p = Parser::new();
        let m = p.fields(raw, n).ok()?;
        let (begin, theirs, ours) = (m.str(8)?, m.str(49)?, m.str(56)?);
        let slot = self.slots.iter().find(|s| {
            let c = &s.config;
            c.begin_string == begin && c.sender_comp_id == ours && c.target_comp_id == theirs
        })?;
        (!slot.connected.swap(true, Ordering::SeqCst)).then(|| slot.clone())
    }

    /// Carries out a session's actions (the caller holds the session); `false` when the
    /// connection must close.
    fn carry(&self, stream: &mut TcpStream, actions: Vec<Action>, session: &mut Session) -> bool {
        // A write that fails does not stop the application messages after it.
        let mut open = true;
        for a in actions {
            match a {
                Action::Send(bytes) => {
                    if open && stream.write_all(&bytes).is_err() {
                        open = false;
                    }
                }
                Action::Refused { raw, reason } => self.app.refused(session.config(), &raw, &reason),
                Action::Disconnect(_) => return false,
                Action::Deliver { msg_type, raw } => {
                    if self.app.deliver(session.config(), &msg_type, &raw).is_err() {
                        // Not safe: the peer must send it again after reconnecting.
                        session.forget_received();
                        return false;
                    }
                }
            }
        }
        open
    }

    /// Makes the delivered messages safe, then keeps the session's sequence numbers; `false`
    /// when either fails (the messages since the last settle are expected again).
    fn settle(&self, session: &mut Session) -> bool {
        if self.app.sync().is_err() {
            session.forget_received();
            return false;
        }
        session.commit().is_ok()
    }

    fn connection(&self, mut stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(TICK));
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let _ = stream.set_nodelay(true);
        let started = wall_ms();
        let mut last_tick = started;
        let mut last_message = started;
        let mut told_idle = true;
        let mut slot: Option<Arc<Slot>> = None;
        let mut held: Option<Held> = None;
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        'conn: loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(k) => {
                    buf.extend_from_slice(&chunk[..k]);
                    if buf.len() > MAX_BUFFER {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => {}
                Err(_) => break,
            }
            let mut at = 0;
            let mut delivered = false;
            loop {
                match Parser::frame(&buf[at..]) {
                    Ok(None) => break,
                    Err(e) => {
                        if !slot.as_ref().is_some_and(|s| s.lock().is_logged_on()) {
                            break 'conn;
                        }
                        at += e.skip().max(1);
                    }
                    Ok(Some((n, _))) => {
                        let raw = &buf[at..at + n];
                        at += n;
                        let now = wall_ms();
                        if slot.is_none() {
                            let Some(s) = self.bind(raw, n) else { break 'conn };
                            s.lock().on_connect(now);
                            held = Some(Held { slot: s.clone(), app: self.app.as_ref() });
                            slot = Some(s);
                        }
                        let Some(s) = slot.as_ref() else { break 'conn };
                        let mut session = s.lock();
                        let actions = session.on_message(raw, now);
                        delivered = true;
                        if !self.carry(&mut stream, actions, &mut session) {
                            self.settle(&mut session);
                            break 'conn;
                        }
                    }
                }
            }
            buf.drain(..at.min(buf.len()));
            let now = wall_ms();
            if delivered {
                last_message = now;
                told_idle = false;
            } else if let (false, Some(s)) = (told_idle, slot.as_ref()) {
                if now - last_message >= IDLE.as_millis() as i64 {
                    told_idle = true;
                    self.app.idle(&s.config);
                }
            }
            // One sync for everything this read brought.
            if let (true, Some(s)) = (delivered, slot.as_ref()) {
                if !self.settle(&mut s.lock()) {
                    break;
                }
            }
            let now = wall_ms();
            let logged_on = slot.as_ref().is_some_and(|s| s.lock().is_logged_on());
            if !logged_on && now - started > LOGON_TIMEOUT_MS {
                break;
            }
            match slot.as_ref() {
                Some(s) if now - last_tick >= TICK.as_millis() as i64 => {
                    last_tick = now;
                    let mut session = s.lock();
                    let actions = session.on_timer(now);
                    let open = self.carry(&mut stream, actions, &mut session);
                    if !self.settle(&mut session) || !open {
                        break;
                    }
                }
                _ => {}
            }
        }
        // The session is free again before the peer sees the connection close.
        drop(held);
        let _ = stream.shutdown(Shutdown::Both);
    }
}
