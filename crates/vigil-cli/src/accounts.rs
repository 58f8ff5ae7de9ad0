//! Behavioural account profiles at the desk: stored by `vigil replay --store` and by the serve's
//! sessions, read by `vigil accounts show ID`, `vigil accounts list` and `/api/accounts/{id}`.
//! An account is judged as of its own latest event (never the wall clock): its recent period is
//! the one that event fell in, and the same store gives the same answer.

use crate::desk::{print_rows, Db, Format};
use anyhow::Context as _;
use serde_json::{json, Value};
use std::process::ExitCode;
use vigil_detect::profile::{assess, Assessment, Peers, Profile};
use vigil_store::Store;

#[derive(clap::Subcommand)]
pub enum AccountsCmd {
    /// One account: its usual and recent activity, its departures from both and from its peers,
    /// its alerts and its risk.
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Every profiled account, the riskiest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// Stores the engine's profiles, each replacing the account's stored one.
pub fn store_profiles(store: &mut Store, profiles: &[Profile]) -> anyhow::Result<usize> {
    let rows: Vec<(String, String)> = profiles.iter().map(|p| Ok((p.account.clone(), serde_json::to_string(p)?))).collect::<Result<_, serde_json::Error>>()?;
    let mut n = 0;
    // A transaction a thousand accounts.
    for chunk in rows.chunks(1000) {
        n += store.save_profiles(chunk)?;
    }
    Ok(n)
}

fn load_all(store: &mut Store) -> anyhow::Result<Vec<Profile>> {
    store.profiles()?.iter().map(|b| serde_json::from_str::<Profile>(b).context("a stored profile cannot be read")).collect()
}

/// An account's profile judged, as JSON; `None` when the account has none.
pub fn profile_json(store: &mut Store, id: &str) -> anyhow::Result<Option<Value>> {
    let all = load_all(store)?;
    let Some(p) = all.iter().find(|p| p.account == id) else { return Ok(None) };
    let risk = store.account_alert_risk(id)?;
    let a = assess(p, &Peers::new(&all), risk);
    Ok(Some(json_of(p, &a)))
}

fn counts_json(c: &vigil_detect::profile::Counts<String>) -> Value {
    let mut venues = std::collections::BTreeMap::<&str, u64>::new();
    for (k, v) in &c.instruments {
        *venues.entry(k.rsplit_once('@').map_or("", |x| x.1)).or_default() += v;
    }
    json!({
        "events": c.events(),
        "orders": c.orders,
        "amends": c.amends,
        "cancels": c.cancels,
        "trades": c.trades,
        "cancel_ratio": (c.cancel_ratio() * 1e4).round() / 1e4,
        "median_order_size": c.median_size(),
        "hours": c.hours,
        "instruments": c.instruments,
        "venues": venues,
    })
}

fn json_of(p: &Profile, a: &Assessment) -> Value {
    json!({
        "account": p.account,
        "risk": (a.risk * 1e4).round() / 1e4,
        "level": a.level,
        "alert_risk": a.alert_risk,
        "period_ns": p.period_ns,
        "first_seen": p.first,
        "last_seen": p.last,
        "recent_start": p.recent_start,
        "baseline": counts_json(&p.baseline),
        "recent": counts_json(&p.recent),
        "departures": a.own,
        "peer_group": a.peer_group,
        "peer_count": a.peer_count,
        "peer_departures": a.peers,
    })
}

pub fn run(db: &Db, cmd: AccountsCmd) -> anyhow::Result<ExitCode> {
    let mut store = db.open()?;
    match cmd {
        AccountsCmd::Show { id, format } => {
            let Some(v) = profile_json(&mut store, &id)? else {
                eprintln!(
                    "vigil: no profile of account {id:?} in {} (profiles are stored by `vigil replay --store` and by the serve's sessions)",
                    store.location()
                );
                return Ok(ExitCode::from(1));
            };
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&v)?),
                _ => print_show(&v),
            }
        }
        AccountsCmd::List { limit, format } => {
            let all = load_all(&mut store)?;
            let peers = Peers::new(&all);
            let risks = store.alert_risk_by_account()?;
            let mut rows: Vec<(f64, Vec<String>)> = Vec::new();
            for p in &all {
                let a = assess(p, &peers, risks.get(&p.account).copied().unwrap_or(0.0));
                let worst = a.own.iter().chain(&a.peers).max_by(|x, y| x.score.total_cmp(&y.score)).filter(|d| d.score > 0.0);
                let total = p.total();
                rows.push((
                    a.risk,
                    vec![
                        p.account.clone(),
                        format!("{:.2}", a.risk),
                        a.level.as_str().to_string(),
                        format!("{:.2}", a.alert_risk),
                        total.events().to_string(),
                        a.peer_group.clone().unwrap_or_default(),
                        worst.map(|d| d.detail.clone()).unwrap_or_default(),
                    ],
                ));
            }
            rows.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1[0].cmp(&b.1[0])));
            let rows: Vec<Vec<String>> = rows.into_iter().take(limit).map(|r| r.1).collect();
            print_rows(format, &["account", "risk", "level", "alert_risk", "events", "peer_group", "largest_departure"], &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_show(v: &Value) {
    let f = |x: &Value| x.as_f64().map_or("-".into(), |x| format!("{x:.2}"));
    println!(
        "account {}: risk {} ({}), its alerts' highest risk {}",
        v["account"].as_str().unwrap_or(""),
        f(&v["risk"]),
        v["level"].as_str().unwrap_or(""),
        f(&v["alert_risk"])
    );
    println!(
        "seen {} to {}; periods of {} s, the recent one from {}",
        vigil_core::Ts(v["first_seen"].as_i64().unwrap_or(0)),
        vigil_core::Ts(v["last_seen"].as_i64().unwrap_or(0)),
        v["period_ns"].as_i64().unwrap_or(0) / 1_000_000_000,
        vigil_core::Ts(v["recent_start"].as_i64().unwrap_or(0))
    );
    for (label, k) in [("usual (baseline)", "baseline"), ("recent", "recent")] {
        let c = &v[k];
        let busiest: Vec<String> = {
            let hours: Vec<u64> = c["hours"].as_array().map(|h| h.iter().map(|x| x.as_u64().unwrap_or(0)).collect()).unwrap_or_default();
            let mut idx: Vec<usize> = (0..hours.len()).filter(|h| hours[*h] > 0).collect();
            idx.sort_by(|a, b| hours[*b].cmp(&hours[*a]).then(a.cmp(b)));
            idx.into_iter().take(4).map(|h| format!("{h:02}h")).collect()
        };
        println!(
            "  {label:<17} {} events: {} orders, {} cancels (ratio {}), {} trades; median order {}; busiest hours {}; instruments {}",
            c["events"],
            c["orders"],
            c["cancels"],
            f(&c["cancel_ratio"]),
            c["trades"],
            f(&c["median_order_size"]),
            busiest.join(" "),
            c["instruments"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>().join(" ")).unwrap_or_default()
        );
    }
    let list = |title: &str, k: &str| {
        let ds = v[k].as_array().cloned().unwrap_or_default();
        if ds.is_empty() {
            return;
        }
        println!("  {title}:");
        for d in ds {
            println!("    {:<20} {:>5}  {}", d["measure"].as_str().unwrap_or(""), f(&d["score"]), d["detail"].as_str().unwrap_or(""));
        }
    };
    list("departures from its own usual (score 0-1)", "departures");
    if v["peer_departures"].as_array().is_some_and(|a| !a.is_empty()) {
        list(&format!("departures from its {} peers in {}", v["peer_count"], v["peer_group"].as_str().unwrap_or("")), "peer_departures");
    } else {
        println!("  peers: {} others with main instrument {} (at least 5 are needed)", v["peer_count"], v["peer_group"].as_str().unwrap_or("-"));
    }
}
