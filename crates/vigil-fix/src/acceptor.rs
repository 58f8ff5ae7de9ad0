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

/// Where application messages go: the session's settings, the MsgType and the message's bytes.
pub type Sink = Arc<dyn Fn(&SessionConfig, &str, &[u8]) + Send + Sync>;

/// How long a connection may stay without naming its session.
const LOGON_TIMEOUT_MS: i64 = 10_000;
/// How often a connection wakes to run its session's timer.
const TICK: Duration = Duration::from_millis(100);

struct Slot {
    session: Mutex<Session>,
    connected: AtomicBool,
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
    sink: Sink,
}

impl Acceptor {
    pub fn new(sessions: Vec<Session>, sink: Sink) -> Acceptor {
        let slots = sessions.into_iter().map(|s| Arc::new(Slot { session: Mutex::new(s), connected: AtomicBool::new(false) })).collect();
        Acceptor { slots: Arc::new(slots), sink }
    }

    /// Accepts connections until the listener fails.
    pub fn serve(&self, listener: TcpListener) -> io::Result<()> {
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => return Err(e),
            };
            let me = self.clone();
            std::thread::Builder::new().name("fix-connection".into()).spawn(move || me.connection(stream))?;
        }
        Ok(())
    }

    /// The session a first message names, if it is free; it is then held by the caller.
    fn bind(&self, raw: &[u8], n: usize) -> Option<Arc<Slot>> {
        let mut p = Parser::new();
        let m = p.fields(raw, n).ok()?;
        let (begin, theirs, ours) = (m.str(8)?, m.str(49)?, m.str(56)?);
        let slot = self.slots.iter().find(|s| {
            let s = s.lock();
            let c = s.config();
            c.begin_string == begin && c.sender_comp_id == ours && c.target_comp_id == theirs
        })?;
        (!slot.connected.swap(true, Ordering::SeqCst)).then(|| slot.clone())
    }

    /// Carries out a session's actions; `false` when the connection must close.
    fn carry(&self, stream: &mut TcpStream, actions: Vec<Action>, slot: &Slot) -> bool {
        for a in actions {
            match a {
                Action::Send(bytes) => {
                    if stream.write_all(&bytes).is_err() {
                        return false;
                    }
                }
                Action::Disconnect(_) => return false,
                Action::Deliver { msg_type, raw } => {
                    let cfg = slot.lock().config().clone();
                    (self.sink)(&cfg, &msg_type, &raw);
                }
            }
        }
        true
    }

    fn connection(&self, mut stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(TICK));
        let _ = stream.set_nodelay(true);
        let started = wall_ms();
        let mut last_tick = started;
        let mut slot: Option<Arc<Slot>> = None;
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        'conn: loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => {}
                Err(_) => break,
            }
            let mut at = 0;
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
                            slot = Some(s);
                        }
                        let Some(s) = slot.as_ref() else { break 'conn };
                        let actions = s.lock().on_message(raw, now);
                        if !self.carry(&mut stream, actions, s) {
                            break 'conn;
                        }
                    }
                }
            }
            buf.drain(..at.min(buf.len()));
            let now = wall_ms();
            match slot.as_ref() {
                Some(s) if now - last_tick >= TICK.as_millis() as i64 => {
                    last_tick = now;
                    let actions = s.lock().on_timer(now);
                    if !self.carry(&mut stream, actions, s) {
                        break;
                    }
                }
                None if now - started > LOGON_TIMEOUT_MS => break,
                _ => {}
            }
        }
        // The session is free again before the peer sees the connection close.
        if let Some(s) = slot {
            s.lock().on_disconnect();
            s.connected.store(false, Ordering::SeqCst);
        }
        let _ = stream.shutdown(Shutdown::Both);
    }
}
