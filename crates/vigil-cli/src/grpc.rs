//! `vigil serve --grpc-listen`: the gRPC services of `proto/vigil/v1/vigil.proto`.
//! - `vigil.v1.Ingest/Publish`: batches of events in, one `Ack` a batch out once its accepted
//!   events are in the ingest journal on disk (the same pipeline as webhooks and FIX). A bad event
//!   is rejected in its `Ack` and the stream goes on. The engine's bounded queue holds a batch
//!   back while the engine is behind, and with it the stream (HTTP/2 flow control): backpressure.
//! - `vigil.v1.Surveillance`: `Subscribe` streams alerts as they are raised (filtered by type,
//!   level, symbol), `Summary` and `ListAlerts` read the store.
//!
//! Every call takes a user's API token as `authorization: Bearer …` metadata (an admin's to
//! publish). Each published stream is a source whose events must come in event-time order (within
//! the reorder tolerance); `vigil-source: NAME` metadata names one of several feeds of one user.
//! TLS is on when `--grpc-tls-cert` and `--grpc-tls-key` are given.

use crate::ingest::{Ingest, Outcome};
use std::sync::{Arc, Mutex};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use vigil_core::Alert;
use vigil_grpc::pb;
use vigil_store::Store;

/// What the services share.
#[derive(Clone)]
pub struct Shared {
    pub ingest: Arc<Ingest>,
    pub store: Arc<Mutex<Store>>,
    pub alerts: tokio::sync::broadcast::Sender<Alert>,
}

impl Shared {
    /// The user a call's token names, who must be an admin to publish events.
    fn publisher<T>(&self, req: &Request<T>) -> Result<String, Status> {
        let (name, role) = self.caller(req)?;
        if role != vigil_store::Role::Admin {
            return Err(Status::permission_denied(format!("{name} is {}: publishing events takes an admin's token", role.as_str())));
        }
        Ok(name)
    }

    /// The user a call's token names.
    fn user<T>(&self, req: &Request<T>) -> Result<String, Status> {
        self.caller(req).map(|(name, _)| name)
    }

    fn caller<T>(&self, req: &Request<T>) -> Result<(String, vigil_store::Role), Status> {
        let token =
            bearer(req).ok_or_else(|| Status::unauthenticated("calls take a user's API token as `authorization: Bearer <token>` (vigil user token)"))?;
        self.role_of(token)
    }

    /// The user and role a token names.
    fn role_of(&self, token: &str) -> Result<(String, vigil_store::Role), Status> {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        match store.check_token(token) {
            Ok(Some(u)) => Ok((u.name, u.role)),
            Ok(None) => Err(Status::unauthenticated("the token is unknown, expired or revoked")),
            Err(e) => Err(Status::unavailable(format!("the store: {e}"))),
        }
    }
}

/// A call's bearer token.
fn bearer<T>(req: &Request<T>) -> Option<&str> {
    req.metadata().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
}

fn ack(o: Outcome) -> pb::Ack {
    pb::Ack {
        accepted: o.accepted,
        last_seq: o.last_seq,
        rejected_count: o.rejected_total,
        rejected: o
            .rejected
            .into_iter()
            .map(|r| pb::Rejected {
                index: r.line.saturating_sub(1) as u32,
                field: r.field.unwrap_or("").into(),
                code: r.code.as_str().into(),
                reason: r.reason,
            })
            .collect(),
    }
}

pub fn to_pb(a: &Alert) -> pb::Alert {
    pb::Alert {
        alert_id: a.alert_id.clone(),
        r#type: a.kind.as_str().into(),
        level: a.level.as_str().into(),
        risk_score: a.risk_score,
        confidence: a.confidence,
        ts: a.ts,
        venue: a.venue.clone().unwrap_or_default(),
        symbols: a.symbols.clone(),
        accounts: a.accounts.clone(),
        description: a.description.clone(),
        json: serde_json::to_string(a).unwrap_or_default(),
    }
}

fn passes(f: &pb::AlertFilter, a: &Alert) -> bool {
    (f.types.is_empty() || f.types.iter().any(|t| t == a.kind.as_str()))
        && (f.levels.is_empty() || f.levels.iter().any(|l| l == a.level.as_str()))
        && (f.symbols.is_empty() || a.symbols.iter().any(|s| f.symbols.contains(s)))
}

#[tonic::async_trait]
impl pb::ingest_server::Ingest for Shared {
    type PublishStream = ReceiverStream<Result<pb::Ack, Status>>;

    async fn publish(&self, req: Request<Streaming<pb::EventBatch>>) -> Result<Response<Self::PublishStream>, Status> {
        let user = self.publisher(&req)?;
        let shared = self.clone();
        let token = bearer(&req).unwrap_or("").to_string();
        // Each source must be in event-time order; a client with several feeds names each.
        let feed = req.metadata().get("vigil-source").and_then(|v| v.to_str().ok()).map(str::to_string);
        let mut inbound = req.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let ingest = self.ingest.clone();
        tokio::spawn(async move {
            let source: Arc<str> = match feed {
                Some(f) => format!("grpc:{user}:{f}").into(),
                None => format!("grpc:{user}").into(),
            };
            loop {
                let batch = match inbound.message().await {
                    Ok(Some(b)) => b,
                    Ok(None) => break,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        break;
                    }
                };
                let (ing, src, shared, token) = (ingest.clone(), source.clone(), shared.clone(), token.clone());
                // Each batch is taken under a token still valid: one revoked meanwhile ends the stream.
                let answer = match tokio::task::spawn_blocking(move || {
                    if shared.role_of(&token)?.1 != vigil_store::Role::Admin {
                        return Err(Status::permission_denied("the token is no longer an admin's"));
                    }
                    ing.submit_events(&src, &batch.events).map_err(|e| Status::unavailable(format!("{e:#}")))
                })
                .await
                {
                    Ok(Ok(o)) => Ok(ack(o)),
                    Ok(Err(status)) => Err(status),
                    Err(e) => Err(Status::internal(format!("the batch's worker failed: {e}"))),
                };
                let failed = answer.is_err();
                if tx.send(answer).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[tonic::async_trait]
impl pb::surveillance_server::Surveillance for Shared {
    type SubscribeStream = ReceiverStream<Result<pb::Alert, Status>>;

    async fn subscribe(&self, req: Request<pb::AlertFilter>) -> Result<Response<Self::SubscribeStream>, Status> {
        self.user(&req)?;
        let filter = req.into_inner();
        let mut alerts = self.alerts.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                // A subscriber that went away ends the task even when no alert passes its filter.
                let next = tokio::select! {
                    a = alerts.recv() => a,
                    _ = tx.closed() => break,
                };
                match next {
                    Ok(a) if passes(&filter, &a) => {
                        if tx.send(Ok(to_pb(&a))).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        // A subscriber too slow to keep up is told, not silently skipped.
                        let _ = tx
                            .send(Err(Status::resource_exhausted(format!("{n} alerts were raised faster than this subscriber read them; ListAlerts has them"))))
                            .await;
                        break;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn summary(&self, req: Request<pb::SummaryRequest>) -> Result<Response<pb::SummaryReply>, Status> {
        self.user(&req)?;
        let counts = self.store.lock().unwrap_or_else(|e| e.into_inner()).alert_counts().map_err(|e| Status::unavailable(format!("the store: {e}")))?;
        let mut by_type: Vec<pb::Count> = Vec::new();
        let mut by_level: Vec<pb::Count> = Vec::new();
        let add = |v: &mut Vec<pb::Count>, name: &str, n: u64| match v.iter_mut().find(|c| c.name == name) {
            Some(c) => c.count += n,
            None => v.push(pb::Count { name: name.into(), count: n }),
        };
        let mut total = 0;
        for (ty, level, _, n) in &counts {
            let n = (*n).max(0) as u64;
            total += n;
            add(&mut by_type, ty, n);
            add(&mut by_level, level, n);
        }
        Ok(Response::new(pb::SummaryReply {
            alerts: total,
            by_type,
            by_level,
            events_ingested: self.ingest.accepted.load(std::sync::atomic::Ordering::Relaxed),
            last_seq: self.ingest.last_seq(),
        }))
    }

    async fn list_alerts(&self, req: Request<pb::ListAlertsRequest>) -> Result<Response<pb::ListAlertsReply>, Status> {
        self.user(&req)?;
        let r = req.into_inner();
        let filter = r.filter.unwrap_or_default();
        let limit = if r.limit == 0 { 100 } else { r.limit as usize };
        // The store's query runs off the async workers. One level, or none, and no type or symbol
        // filter: the store applies the limit; otherwise it is a scan of the store, newest first.
        let level = match filter.levels.as_slice() {
            [l] => Some(vigil_core::Level::parse(l).ok_or_else(|| Status::invalid_argument(format!("levels: {l:?} is not critical, high, medium or low")))?),
            _ => None,
        };
        let pushed = filter.types.is_empty() && filter.symbols.is_empty() && filter.levels.len() <= 1;
        let store = self.store.clone();
        let stored = tokio::task::spawn_blocking(move || {
            store.lock().unwrap_or_else(|e| e.into_inner()).alerts(&vigil_store::AlertFilter {
                level,
                limit: pushed.then_some(limit as i64),
                ..Default::default()
            })
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| Status::unavailable(format!("the store: {e}")))?;
        let alerts = stored.iter().map(|s| &s.alert).filter(|a| passes(&filter, a)).take(limit).map(to_pb).collect();
        Ok(Response::new(pb::ListAlertsReply { alerts }))
    }
}

/// Serves both services on `addr` from a runtime of its own thread; returns the bound address.
pub fn start(addr: &str, shared: Shared, tls: Option<(String, String)>) -> anyhow::Result<std::net::SocketAddr> {
    use anyhow::Context;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().thread_name("vigil-grpc").build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr)).with_context(|| format!("cannot listen for gRPC on {addr}"))?;
    let local = listener.local_addr()?;
    // Batches are large: HTTP/2 windows that take one whole, rather than 64 KiB at a time.
    let mut builder = tonic::transport::Server::builder().initial_stream_window_size(16 << 20).initial_connection_window_size(32 << 20);
    if let Some((cert, key)) = tls {
        let cert = std::fs::read(&cert).with_context(|| format!("--grpc-tls-cert {cert}"))?;
        let key = std::fs::read(&key).with_context(|| format!("--grpc-tls-key {key}"))?;
        let identity = tonic::transport::Identity::from_pem(cert, key);
        builder = builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity)).context("the gRPC TLS configuration")?;
    }
    let router = builder
        .add_service(pb::ingest_server::IngestServer::new(shared.clone()).max_decoding_message_size(64 << 20))
        .add_service(pb::surveillance_server::SurveillanceServer::new(shared));
    std::thread::Builder::new().name("vigil-grpc".into()).spawn(move || {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        if let Err(e) = rt.block_on(router.serve_with_incoming(incoming)) {
            eprintln!("vigil serve: the gRPC server stopped: {e}");
        }
    })?;
    Ok(local)
}

/// `vigil grpc-bench`: publishes generated events to a running `vigil serve --grpc-listen` and
/// measures the rate at which they are acknowledged (journaled on disk and handed to the engine).
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The serve's gRPC address (host:port).
    #[arg(long)]
    pub addr: String,
    /// An admin's API token (default $VIGIL_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
    /// Events to publish.
    #[arg(long, default_value_t = 2_000_000)]
    pub events: usize,
    /// Events a batch.
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
    #[arg(long, default_value_t = 16)]
    pub symbols: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// An engine event as the protocol's.
pub fn from_event(e: &vigil_core::Event, names: &vigil_core::Names) -> pb::Event {
    use vigil_core::EventKind;
    let s = |o: Option<vigil_core::AccountId>| o.map_or(String::new(), |a| names.account(a).to_string());
    let side = |x: vigil_core::Side| match x {
        vigil_core::Side::Buy => pb::Side::Buy as i32,
        vigil_core::Side::Sell => pb::Side::Sell as i32,
    };
    let mut p = pb::Event { ts: e.ts.0, venue: names.venue(e.venue).to_string(), symbol: names.symbol(e.symbol).to_string(), ..Default::default() };
    match &e.kind {
        EventKind::New(n) => {
            p.r#type = pb::EventType::New as i32;
            p.order_id = n.order_id.to_string();
            p.account = s(n.account);
            p.side = side(n.side);
            p.price = n.price.map_or(String::new(), |x| x.to_string());
            p.qty = n.qty.to_string();
        }
        EventKind::Amend(a) => {
            p.r#type = pb::EventType::Amend as i32;
            p.order_id = a.order_id.to_string();
            p.account = s(a.account);
            p.price = a.price.map_or(String::new(), |x| x.to_string());
            p.qty = a.qty.map_or(String::new(), |x| x.to_string());
        }
        EventKind::Cancel(c) => {
            p.r#type = pb::EventType::Cancel as i32;
            p.order_id = c.order_id.to_string();
            p.account = s(c.account);
        }
        EventKind::Trade(t) => {
            p.r#type = pb::EventType::Trade as i32;
            p.trade_id = t.trade_id.to_string();
            p.price = t.price.to_string();
            p.qty = t.qty.to_string();
            p.buy_account = s(t.buy_account);
            p.sell_account = s(t.sell_account);
            p.buy_order_id = t.buy_order_id.as_ref().map_or(String::new(), |x| x.to_string());
            p.sell_order_id = t.sell_order_id.as_ref().map_or(String::new(), |x| x.to_string());
            p.aggressor = t.aggressor.map_or(0, side);
        }
        EventKind::Quote(q) => {
            p.r#type = pb::EventType::Quote as i32;
            p.bid = q.bid.map_or(String::new(), |x| x.to_string());
            p.bid_qty = q.bid_qty.map_or(String::new(), |x| x.to_string());
            p.ask = q.ask.map_or(String::new(), |x| x.to_string());
            p.ask_qty = q.ask_qty.map_or(String::new(), |x| x.to_string());
        }
        EventKind::Account { account, owner } => {
            p.r#type = pb::EventType::Account as i32;
            p.account = names.account(*account).to_string();
            p.owner = names.owner(*owner).to_string();
        }
    }
    p
}

pub fn bench_cmd(a: BenchArgs) -> anyhow::Result<std::process::ExitCode> {
    use anyhow::Context;
    let token = a.token.clone().or_else(|| std::env::var("VIGIL_TOKEN").ok()).context("--token or $VIGIL_TOKEN: an admin's API token")?;
    let mut interner = vigil_core::Interner::new();
    let names = interner.names();
    let events: Vec<pb::Event> = vigil_sim::Synth::new(vigil_sim::SynthConfig { seed: a.seed, symbols: a.symbols, ..Default::default() }, &mut interner)
        .take(a.events)
        .map(|e| from_event(&e, &names))
        .collect();
    let batches: Vec<pb::EventBatch> = events.chunks(a.batch.max(1)).map(|c| pb::EventBatch { events: c.to_vec() }).collect();
    let n = events.len();
    drop(events);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (elapsed, acks, last, latencies) = rt.block_on(async move {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", a.addr))?
            .initial_stream_window_size(16 << 20)
            .initial_connection_window_size(32 << 20)
            .connect()
            .await
            .with_context(|| format!("cannot reach {}", a.addr))?;
        let mut client = pb::ingest_client::IngestClient::new(channel).max_decoding_message_size(64 << 20).max_encoding_message_size(256 << 20);
        let sent_at = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let marks = sent_at.clone();
        let stream = tokio_stream::iter(batches.into_iter().inspect(move |_| {
            marks.lock().unwrap_or_else(|e| e.into_inner()).push_back(crate::wall::now());
        }));
        let mut req = Request::new(stream);
        req.metadata_mut().insert("authorization", format!("Bearer {token}").parse().context("the token is not valid in a header")?);
        // A source of its own: the generated market starts at the same time at every run.
        req.metadata_mut().insert("vigil-source", format!("bench-{}", crate::wall::epoch_ns()).parse().context("a source name")?);
        let t = crate::wall::now();
        let mut acks = client.publish(req).await?.into_inner();
        let (mut count, mut last, mut lat) = (0u64, 0u64, Vec::new());
        while let Some(ack) = acks.message().await? {
            count += ack.accepted;
            last = ack.last_seq;
            if let Some(s) = sent_at.lock().unwrap_or_else(|e| e.into_inner()).pop_front() {
                lat.push(s.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::ensure!(ack.rejected.is_empty(), "the serve refused {} events: {:?}", ack.rejected.len(), ack.rejected.first());
        }
        anyhow::Ok((t.elapsed().as_secs_f64(), count, last, lat))
    })?;
    anyhow::ensure!(acks as usize == n, "{acks} of {n} events acknowledged");
    let mut lat = latencies;
    lat.sort_by(|x, y| x.total_cmp(y));
    let pct = |p: f64| lat.get(((lat.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
    let rate = n as f64 / elapsed;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"events": n, "batch": a.batch, "seconds": elapsed, "events_per_sec": rate.round(), "last_seq": last, "batch_latency_ms_p50": pct(0.5), "batch_latency_ms_p99": pct(0.99)})
        );
    } else {
        println!(
            "vigil grpc-bench: {} events in batches of {} acknowledged in {elapsed:.2} s: {} events/s (batch round trip p50 {:.1} ms, p99 {:.1} ms; last sequence {last})",
            crate::replay::group(n as u64),
            a.batch,
            crate::replay::group(rate as u64),
            pct(0.5),
            pct(0.99)
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}
