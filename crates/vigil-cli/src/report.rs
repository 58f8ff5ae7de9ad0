//! `vigil report`: the STOR and SAR of a case, its narrative, and the periodic market integrity
//! report with the desk's compliance metrics (JSON, HTML, PDF). The serve offers the same as
//! downloads; both go through [`case_report`] and [`integrity_report`].

use crate::desk::{self, Db};
use crate::replay;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::process::ExitCode;
use vigil_report::case::{self, Inputs};
use vigil_report::{Format, Record, Reference};
use vigil_store::Store;

#[derive(clap::Subcommand)]
pub enum ReportCmd {
    /// A suspicious transaction and order report (EU MAR Art. 16; the template of Delegated
    /// Regulation (EU) 2016/957) from a case, with the list of what is still to be supplied.
    Stor(CaseReportArgs),
    /// A SAR-style export for US filers (subjects, activity and its category, amount, dates,
    /// narrative) from the same case data.
    Sar(CaseReportArgs),
    /// Print a case's narrative (the one saved, else Vigil's draft from the alerts), or save an
    /// edited one with --set: the reports carry the narrative saved last.
    Narrative {
        #[arg(long)]
        case: i64,
        /// A file holding the edited narrative (`-`: standard input).
        #[arg(long)]
        set: Option<String>,
        /// Print Vigil's draft even when a narrative is saved.
        #[arg(long)]
        draft: bool,
        #[command(flatten)]
        sources: Sources,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// The market integrity report of a period: alerts by type and level, cases and outcomes, the
    /// most alerted accounts and instruments, charts, and the compliance metrics.
    Integrity(IntegrityArgs),
}

/// Where a case report's orders and trades come from.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Sources {
    /// The event files the case's alerts were raised on (as replayed): the alerted accounts'
    /// orders and trades in each alert's window fill the report's orders and transactions.
    #[arg(long, num_args = 1..)]
    pub events: Vec<String>,
    /// Their format, where the file names do not say (as `vigil replay --format`).
    #[arg(long)]
    pub event_format: Option<String>,
    /// The vigil.toml they were replayed with (its stream settings number the events).
    #[arg(long)]
    pub config: Option<String>,
    /// How far before and after each alert's window to list orders and trades.
    #[arg(long, default_value = "10s")]
    pub margin: String,
}

#[derive(clap::Args)]
pub struct CaseReportArgs {
    #[arg(long)]
    pub case: i64,
    #[arg(long, value_parser = ["json", "html", "pdf"], default_value = "json")]
    pub format: String,
    /// Where to write it (default: standard output; a PDF goes to `<report>-case-<id>.pdf`).
    #[arg(long)]
    pub out: Option<String>,
    #[command(flatten)]
    pub sources: Sources,
    /// What the store does not know: the submitter, the persons behind accounts, instrument
    /// identifiers (TOML; default $VIGIL_REFERENCE). See docs/reports.md.
    #[arg(long)]
    pub reference: Option<String>,
    /// Who exports it (recorded in the audit log with the file's SHA-256).
    #[arg(long = "as")]
    pub actor: Option<String>,
}

#[derive(clap::Args)]
pub struct IntegrityArgs {
    /// The period's start: a date (`2026-01-01`, UTC midnight) or an RFC 3339 time.
    #[arg(long)]
    pub from: String,
    /// The period's end, exclusive; a date means the end of that day.
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub venue: Option<String>,
    #[arg(long)]
    pub symbol: Option<String>,
    #[arg(long, value_parser = ["json", "html", "pdf"], default_value = "json")]
    pub format: String,
    #[arg(long)]
    pub out: Option<String>,
    /// Who exports it (it ranks accounts: recorded in the audit log with the file's SHA-256).
    #[arg(long = "as")]
    pub actor: Option<String>,
}

/// Which case report.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Stor,
    Sar,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Stor => "stor",
            Kind::Sar => "sar",
        }
    }
}

/// Reads a reference file (`path`, else $VIGIL_REFERENCE, else none).
pub fn reference(path: Option<&str>) -> anyhow::Result<Reference> {
    match path.map(str::to_string).or_else(|| std::env::var("VIGIL_REFERENCE").ok()) {
        Some(p) => Ok(Reference::load(&p)?),
        None => Ok(Reference::default()),
    }
}

/// The case's orders and trades from its event files, and the owners their reference data names.
pub fn collect(s: &Sources, alerts: &[vigil_core::Alert]) -> anyhow::Result<(Vec<Record>, BTreeMap<String, String>)> {
    let margin = vigil_core::time::parse_duration(&s.margin).map_err(|e| anyhow::anyhow!("--margin {:?}: {e}", s.margin))?;
    let config = replay::load_config(s.config.as_deref())?;
    let mut stream = replay::stream_of(&s.events, s.event_format.as_deref(), &config, None)?;
    let names = stream.names();
    let mut c = vigil_report::Collector::new(alerts, margin);
    while let Some(ev) = stream.next_event() {
        c.push(&ev, &names);
    }
    if let Some(e) = stream.errors().first() {
        bail!("reading the events: {e}");
    }
    Ok((c.records, c.owners))
}

/// Which report of which case, for whom.
pub struct CaseRequest<'a> {
    pub case_id: i64,
    pub kind: Kind,
    pub format: Format,
    pub sources: &'a Sources,
    pub reference: Reference,
    /// Who exports it (an analyst or above).
    pub actor: &'a str,
    /// Wall-clock time of the export (ns).
    pub now: i64,
}

/// A case's STOR or SAR, written in its format, and what the audit log is to record once it is
/// handed out ([`vigil_report::record_export`]).
pub fn case_report(store: &mut Store, req: CaseRequest<'_>) -> anyhow::Result<(Vec<u8>, vigil_report::Export)> {
    let CaseRequest { case_id, kind, format, sources, reference, actor, now } = req;
    store.require_user(actor, vigil_store::Role::Analyst)?;
    let data = case::gather(store, case_id)?;
    let mut inputs = Inputs { reference, now, ..Default::default() };
    if !sources.events.is_empty() {
        let alerts: Vec<vigil_core::Alert> = data.alerts.iter().map(|a| a.alert.clone()).collect();
        let (records, owners) = collect(sources, &alerts)?;
        inputs.records = Some(records);
        inputs.owners = owners;
        inputs.sources = sources.events.clone();
    }
    let (bytes, missing) = match kind {
        Kind::Stor => {
            let r = case::stor(&data, &inputs);
            (vigil_report::write(&r, || r.doc(), format, now)?, r.missing.len())
        }
        Kind::Sar => {
            let r = case::sar(&data, &inputs);
            (vigil_report::write(&r, || r.doc(), format, now)?, r.missing.len())
        }
    };
    let export = vigil_report::Export { report: kind.as_str(), object_type: "case", object_id: case_id.to_string(), format, missing: Some(missing) };
    Ok((bytes, export))
}

/// Parses a period bound: a date (its UTC midnight; with `end`, the next midnight) or RFC 3339.
pub fn bound(s: &str, end: bool, what: &str) -> anyhow::Result<i64> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{what} {s:?}: a date (2026-01-31) or an RFC 3339 time, not a bare number");
    }
    if t.len() == 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' {
        let ts = vigil_core::Ts::parse(format!("{t}T00:00:00Z").as_bytes()).map_err(|e| anyhow::anyhow!("{what} {s:?}: {e:?}"))?;
        return Ok(ts.0 + if end { 86_400_000_000_000 } else { 0 });
    }
    vigil_core::Ts::parse(t.as_bytes()).map(|ts| ts.0).map_err(|e| anyhow::anyhow!("{what} {s:?}: not a date (2026-01-31) or an RFC 3339 time ({e:?})"))
}

/// The UTC day of a time, `2026-01-31`.
fn day_of(ns: i64) -> String {
    vigil_core::Ts(ns).to_string()[..10].to_string()
}

/// The integrity report of a period and scope, and what the audit log is to record of it.
pub fn integrity_report(
    store: &mut Store,
    from: i64,
    to: i64,
    venue: Option<String>,
    symbol: Option<String>,
    format: Format,
    now: i64,
) -> anyhow::Result<(Vec<u8>, vigil_report::Export)> {
    if to <= from {
        bail!("the period is empty: --to must be after --from");
    }
    let object_id = format!(
        "integrity {}..{} venue={} symbol={}",
        vigil_report::time(from),
        vigil_report::time(to),
        venue.as_deref().unwrap_or("*"),
        symbol.as_deref().unwrap_or("*")
    );
    let r = vigil_report::integrity::build(store, vigil_report::Period { from, to }, &vigil_report::integrity::Scope { venue, symbol }, now)?;
    let export = vigil_report::Export { report: "integrity", object_type: "report", object_id, format, missing: None };
    Ok((vigil_report::write(&r, || r.doc(), format, now)?, export))
}

fn format(s: &str) -> anyhow::Result<Format> {
    let f = Format::parse(s).with_context(|| format!("--format {s:?}: json, html or pdf"))?;
    if f == Format::Pdf && !vigil_report::PDF {
        bail!("this build writes no PDF: build vigil with the `pdf` feature (on by default)");
    }
    Ok(f)
}

fn emit(bytes: &[u8], out: Option<&str>, default_pdf: String, f: Format) -> anyhow::Result<()> {
    use std::io::Write;
    let path = out.map(str::to_string).or_else(|| (f == Format::Pdf).then_some(default_pdf));
    match path.as_deref() {
        None | Some("-") => std::io::stdout().write_all(bytes).context("writing the report"),
        Some(p) => {
            std::fs::write(p, bytes).with_context(|| format!("cannot write {p}"))?;
            eprintln!("vigil report: wrote {p} ({} bytes)", bytes.len());
            Ok(())
        }
    }
}

pub fn run(db: &Db, cmd: ReportCmd) -> anyhow::Result<ExitCode> {
    let now = vigil_store::now_ns();
    match cmd {
        ReportCmd::Stor(a) => case_cmd(db, a, Kind::Stor, now),
        ReportCmd::Sar(a) => case_cmd(db, a, Kind::Sar, now),
        ReportCmd::Narrative { case, set, draft, sources, actor } => {
            let mut store = db.open()?;
            match set {
                Some(file) => {
                    let who = desk::actor(&actor)?;
                    let text = if file == "-" {
                        let mut s = String::new();
                        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("reading the narrative from standard input")?;
                        s
                    } else {
                        std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?
                    };
                    let id = store.set_narrative(case, &who, text.trim_end())?;
                    eprintln!("vigil report: narrative saved on case {case} (note {id})");
                }
                None => {
                    let data = case::gather(&mut store, case)?;
                    match (&data.narrative, draft) {
                        (Some(n), false) => println!("{}", n.body),
                        _ => {
                            let records = if sources.events.is_empty() {
                                None
                            } else {
                                let alerts: Vec<vigil_core::Alert> = data.alerts.iter().map(|a| a.alert.clone()).collect();
                                Some(collect(&sources, &alerts)?.0)
                            };
                            println!("{}", case::draft_narrative(&data, records.as_deref()));
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ReportCmd::Integrity(a) => {
            let f = format(&a.format)?;
            let from = bound(&a.from, false, "--from")?;
            let to = bound(&a.to, true, "--to")?;
            let who = desk::actor(&a.actor)?;
            let mut store = db.open()?;
            store.require_user(&who, vigil_store::Role::Analyst)?;
            let (bytes, export) = integrity_report(&mut store, from, to, a.venue, a.symbol, f, now)?;
            let name = format!("integrity-{}-{}.pdf", day_of(from), day_of(to - 1));
            emit(&bytes, a.out.as_deref(), name, f)?;
            vigil_report::record_export(&mut store, &who, &export, &bytes)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn case_cmd(db: &Db, a: CaseReportArgs, kind: Kind, now: i64) -> anyhow::Result<ExitCode> {
    let f = format(&a.format)?;
    let who = desk::actor(&a.actor)?;
    let reference = reference(a.reference.as_deref())?;
    let mut store = db.open()?;
    let req = CaseRequest { case_id: a.case, kind, format: f, sources: &a.sources, reference, actor: &who, now };
    let (bytes, export) = case_report(&mut store, req)?;
    emit(&bytes, a.out.as_deref(), format!("{}-case-{}.pdf", kind.as_str(), a.case), f)?;
    vigil_report::record_export(&mut store, &who, &export, &bytes)?;
    Ok(ExitCode::SUCCESS)
}
