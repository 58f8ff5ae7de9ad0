//! `vigil`: the command of a surveillance desk.

mod accounts;
mod bench;
mod demo;
mod desk;
mod feed;
mod grpc;
mod ingest;
mod kafka;
mod replay;
mod report;
mod serve;
mod simulate;
mod synth;
mod train;
mod web;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "vigil", version, about = "Trade surveillance: finds market manipulation in order and trade activity, explainably and deterministically.")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    db: desk::Db,
    /// A running `vigil serve` to act on (default: $VIGIL_SERVER, else http://127.0.0.1:7878 unless
    /// --db is given); without one, commands act on the store.
    #[arg(long, global = true)]
    server: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay event files through every detector and write the alerts (the spec's evaluation command).
    Replay(replay::ReplayArgs),
    /// Run the demo: the dashboard on a live simulated market with manipulation injected now and then
    /// (`--score`: a labelled market replayed through every detector and scored).
    Demo(demo::DemoArgs),
    /// Write a synthetic market's events to a file (JSONL or CSV, .gz to compress).
    Synth(synth::SynthArgs),
    /// Learn normal activity for `ml_anomaly`: grow the anomaly model's forests on event files.
    Train(train::TrainArgs),
    /// Simulate a labelled market: events (JSONL and CSV) and labels of the injected manipulation.
    Simulate(simulate::SimulateArgs),
    /// Score alerts against labels by the spec's rule: precision, recall, latency per type.
    Eval(simulate::EvalArgs),
    /// Run the simulator live into the engine (accelerated real time), print alerts as they come,
    /// and score the run against its labels.
    Test(simulate::TestArgs),
    /// Convert event files of any readable format into the spec's JSON Lines or CSV.
    Convert(feed::ConvertArgs),
    /// A local exchange replaying a recorded websocket capture, for `vigil start --url` without the internet.
    FeedServer(feed::FeedServerArgs),
    /// Publish event files to a Kafka topic, partitioned by instrument, for `vigil worker`s.
    Publish(kafka::PublishArgs),
    /// One worker of a consumer group: detects on the partitions it owns and stores alerts with
    /// its Kafka positions in one transaction (`--db`: the group's PostgreSQL).
    Worker(kafka::WorkerArgs),
    /// A Kafka cluster on loopback for trials and benchmarks (librdkafka's mock brokers); prints
    /// its bootstrap servers.
    KafkaMock(kafka::MockArgs),
    /// Publish generated events to a running `vigil serve --grpc-listen` and measure how fast they are acknowledged.
    GrpcBench(grpc::BenchArgs),
    /// Measure the engine's throughput on events generated in memory.
    Bench(bench::BenchArgs),
    /// Show or check the configuration.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// List the detectors and the alert types they raise.
    ListPatterns {
        #[arg(long, value_enum, default_value_t)]
        format: desk::Format,
    },
    /// The long-running process: engine, store and the HTTP API.
    Serve(serve::ServeArgs),
    /// Monitor symbols: the simulated market for a while (on the running serve, else here), or a
    /// venue's live public market data (`--source binance|coinbase|kraken`), printing the alerts raised.
    Start(serve::StartArgs),
    /// Stop the running serve's monitoring session.
    Stop,
    /// Running or not, symbols, totals, active alerts, thresholds.
    Status {
        #[arg(long, value_enum, default_value_t)]
        format: desk::Format,
    },
    /// Alerts by level, type and status, the risk distribution, and recommendations.
    Summary {
        #[arg(long, value_enum, default_value_t)]
        format: desk::Format,
    },
    /// List stored alerts, newest first.
    Alerts(desk::AlertsArgs),
    /// Triage an alert: resolved or false_positive (a critical false positive takes a supervisor's approval).
    Resolve(desk::ResolveArgs),
    /// Approve (or --reject) a four-eyes proposal, as a supervisor other than its proposer.
    Approve(desk::ApproveArgs),
    /// List the proposals waiting for a supervisor.
    Proposals {
        #[arg(long, value_enum, default_value_t)]
        format: desk::Format,
    },
    /// Behavioural account profiles: one account's usual, recent activity, departures and risk.
    Accounts {
        #[command(subcommand)]
        cmd: accounts::AccountsCmd,
    },
    /// Cases: open from alerts, link, assign, comment, attach evidence, investigate, close, reopen.
    Cases {
        #[command(subcommand)]
        cmd: desk::CasesCmd,
    },
    /// Regulatory reports: a case's STOR or SAR, its narrative, the market integrity report.
    Report {
        #[command(subcommand)]
        cmd: report::ReportCmd,
    },
    /// Suppression rules (allow-lists): add, list, revoke.
    Rules {
        #[command(subcommand)]
        cmd: desk::RulesCmd,
    },
    /// Users, roles and API tokens.
    User {
        #[command(subcommand)]
        cmd: desk::UserCmd,
    },
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        cmd: desk::AuditCmd,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print the whole default configuration, with comments (a starting `vigil.toml`).
    Default,
    /// Check a configuration file and print it as the engine will use it.
    Check { path: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A serve to act on: the one named (--server, $VIGIL_SERVER); else, unless --db names a store to
    // act on directly, the default address; else none (an empty address).
    let server = match cli.server.clone().or_else(|| std::env::var("VIGIL_SERVER").ok()) {
        Some(s) => s,
        None if cli.db.db.is_some() => String::new(),
        None => serve::DEFAULT_SERVER.into(),
    };
    let res = match cli.cmd {
        Cmd::Serve(a) => serve::serve(a, &cli.db),
        Cmd::Start(a) => serve::start(a, &cli.db, &server),
        Cmd::Stop => serve::stop(&server),
        Cmd::Status { format } => serve::status_cmd(&cli.db, &server, format),
        Cmd::Summary { format } => serve::summary_cmd(&cli.db, &server, format),
        Cmd::Replay(a) => replay::run(a, &cli.db),
        Cmd::Alerts(a) => desk::alerts(&cli.db, a, &server),
        Cmd::Resolve(a) => desk::resolve(&cli.db, a, &server),
        Cmd::Approve(a) => desk::approve(&cli.db, a),
        Cmd::Proposals { format } => desk::proposals(&cli.db, format),
        Cmd::User { cmd } => desk::user(&cli.db, cmd),
        Cmd::Cases { cmd } => desk::cases(&cli.db, cmd),
        Cmd::Accounts { cmd } => accounts::run(&cli.db, cmd),
        Cmd::Rules { cmd } => desk::rules(&cli.db, cmd),
        Cmd::Report { cmd } => report::run(&cli.db, cmd),
        Cmd::Audit { cmd } => desk::audit(&cli.db, cmd),
        Cmd::Demo(a) => demo::run(a),
        Cmd::Synth(a) => synth::write(a).map(|_| ExitCode::SUCCESS),
        Cmd::Train(a) => train::train(a).map(|_| ExitCode::SUCCESS),
        Cmd::Simulate(a) => simulate::simulate(a).map(|_| ExitCode::SUCCESS),
        Cmd::Eval(a) => simulate::eval(a),
        Cmd::Test(a) => simulate::live(a),
        Cmd::Publish(a) => kafka::publish(a),
        Cmd::Worker(a) => kafka::worker(a, &cli.db),
        Cmd::KafkaMock(a) => kafka::mock(a),
        Cmd::Bench(a) => bench::run(a).map(|_| ExitCode::SUCCESS),
        Cmd::GrpcBench(a) => grpc::bench_cmd(a),
        Cmd::Convert(a) => feed::convert(a),
        Cmd::FeedServer(a) => feed::feed_server(a),
        Cmd::Config { cmd: ConfigCmd::Default } => {
            print!("{}", vigil_detect::DEFAULT_TOML);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Config { cmd: ConfigCmd::Check { path } } => replay::load_config(Some(&path)).map(|c| {
            println!("{c:#?}");
            ExitCode::SUCCESS
        }),
        Cmd::ListPatterns { format } => {
            if format == desk::Format::Table {
                for p in &vigil_detect::detectors::CATALOGUE {
                    println!("{}  (default risk {:.2}; detector [detectors.{}])", p.kind, vigil_detect::builder::base_risk(p.kind), p.module);
                    println!("    {}", p.description);
                    println!("    indicators: {}", p.indicators);
                    println!("    basis: {}", p.basis);
                }
            } else {
                let rows: Vec<Vec<String>> = vigil_detect::detectors::CATALOGUE
                    .iter()
                    .map(|p| {
                        vec![
                            p.kind.to_string(),
                            p.description.to_string(),
                            p.indicators.to_string(),
                            format!("{:.2}", vigil_detect::builder::base_risk(p.kind)),
                            p.module.to_string(),
                            p.basis.to_string(),
                        ]
                    })
                    .collect();
                desk::print_rows(format, &["name", "description", "indicators", "default_risk", "detector", "basis"], &rows);
            }
            Ok(ExitCode::SUCCESS)
        }
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The one place that reads the wall clock: to report how fast a run went, never to decide.
pub mod wall {
    #[allow(clippy::disallowed_methods)]
    pub fn now() -> std::time::Instant {
        std::time::Instant::now()
    }
    /// Nanoseconds since the epoch, from the wall clock.
    #[allow(clippy::disallowed_methods)]
    pub fn epoch_ns() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
    }
}
