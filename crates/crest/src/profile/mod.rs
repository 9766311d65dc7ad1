//! `crest profile`: behavioural profiles per actor (ScryWarden's model, and crest's own).
//!
//! `collect` learns profiles from messages and stores the anomalous ones as events;
//! `investigate` judges windows of events and ships what is malicious; `show` prints what the
//! store knows of one actor.

mod collect;
mod investigate;
mod settings;
mod source;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};
use crest_profile::config::Profile;
use crest_profile_store::{EmbeddedStore, PgStore, ProfileStore};

use crate::Failure;
use settings::{Settings, SourceSettings, StoreKind};

/// `crest profile`.
#[derive(Debug, Args)]
#[command(
    about = "Behavioural profiles per actor: collect, investigate, show (ScryWarden's model)"
)]
pub(crate) struct ProfileArgs {
    #[command(subcommand)]
    command: ProfileCommand,
}

#[derive(Debug, Subcommand)]
enum ProfileCommand {
    /// Learn profiles from messages; store the anomalous ones as events.
    Collect(CollectArgs),
    /// Judge windows of stored events and ship the malicious anomalies.
    Investigate(InvestigateArgs),
    /// Print what the store knows of one actor.
    Show(ShowArgs),
}

/// Where the config and the store are.
#[derive(Debug, Args)]
struct Common {
    /// The config file: crest's TOML, or ScryWarden's YAML (`.yml`).
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = "crest.toml")]
    config: PathBuf,
    /// The store, overriding the config's [store] kind.
    #[arg(long, value_enum, value_name = "KIND")]
    store: Option<StoreKind>,
    /// The embedded store's directory (default: the config's, else crest's data directory +
    /// /profiles).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL connection string, overriding the config's.
    #[arg(long, value_name = "CONNINFO")]
    url: Option<String>,
    /// PostgreSQL schema holding crest's tables (default: the config's, else `crest`).
    #[arg(long, value_name = "NAME")]
    schema: Option<String>,
    /// Only these profiles (repeatable; default: all).
    #[arg(short = 'p', long = "profile", value_name = "NAME")]
    profiles: Vec<String>,
}

#[derive(Debug, Args)]
struct CollectArgs {
    #[command(flatten)]
    common: Common,
    /// Input files (JSON Lines, JSON array, or CSV; plain, gzip or zstd), or '-' for standard
    /// input; replaces the config's sources.
    #[arg(value_name = "INPUT")]
    inputs: Vec<String>,
    /// Messages per batch at most (overrides pipeline.queue_size).
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    /// Process a batch this long after its first message at the latest (overrides
    /// pipeline.timeout).
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Skip malformed records and messages without a usable actor, time or number, and count
    /// them, instead of stopping at the first.
    #[arg(long)]
    skip_invalid: bool,
}

#[derive(Debug, Args)]
struct InvestigateArgs {
    #[command(flatten)]
    common: Common,
    /// Investigate the complete windows there are, then exit (for cron and tests); without it,
    /// wait for more until Ctrl-C or SIGTERM.
    #[arg(long)]
    once: bool,
    /// Pin the clock ("2026-11-22T23:57:00Z"): windows ending after it wait.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
}

/// How `show` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ShowFormat {
    /// Readable text.
    Table,
    /// One JSON document.
    Json,
}

#[derive(Debug, Args)]
struct ShowArgs {
    #[command(flatten)]
    common: Common,
    /// The actor's name.
    actor: String,
    /// Values shown per feature.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Table)]
    format: ShowFormat,
}

/// Runs `crest profile …`.
pub(crate) fn run(args: &ProfileArgs) -> Result<(), Failure> {
    match &args.command {
        ProfileCommand::Collect(a) => collect(a),
        ProfileCommand::Investigate(a) => investigate(a),
        ProfileCommand::Show(a) => show(a),
    }
}

/// Reads the config and builds the profiles asked for.
fn load(common: &Common) -> Result<(Settings, Vec<Profile>), Failure> {
    let settings = settings::load(&common.config).map_err(|e| Failure::Usage(format!("{e:#}")))?;
    let mut profiles = settings
        .profiles()
        .map_err(|e| Failure::Usage(format!("{}: {e:#}", common.config.display())))?;
    if !common.profiles.is_empty() {
        for name in &common.profiles {
            if !profiles.iter().any(|p| &p.name == name) {
                let known: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
                return Err(Failure::Usage(format!(
                    "no profile '{name}' in {} (it has {})",
                    common.config.display(),
                    known.join(", ")
                )));
            }
        }
        profiles.retain(|p| common.profiles.contains(&p.name));
    }
    Ok((settings, profiles))
}

/// Opens the store the flags and config name.
fn open_store(common: &Common, settings: &Settings) -> Result<Box<dyn ProfileStore>, Failure> {
    match common.store.unwrap_or(settings.store.kind) {
        StoreKind::Embedded => {
            let dir = match common.data_dir.clone().or_else(|| settings.store.dir.clone()) {
                Some(d) => d,
                None => crate::fsutil::data_dir(None)?.join("profiles"),
            };
            Ok(Box::new(EmbeddedStore::open(&dir).map_err(|e| Failure::Run(e.into()))?))
        }
        StoreKind::Postgres => {
            let url =
                common.url.clone().or_else(|| settings.store.url.clone()).ok_or_else(|| {
                    Failure::Usage(
                        "the postgres store needs a connection string: --url, or url in [store]"
                            .into(),
                    )
                })?;
            let schema = common
                .schema
                .clone()
                .or_else(|| settings.store.schema.clone())
                .unwrap_or_else(|| "crest".into());
            Ok(Box::new(PgStore::connect(&url, &schema).map_err(|e| Failure::Run(e.into()))?))
        }
    }
}

/// A flag set on Ctrl-C or SIGTERM, so that the run drains and saves before it exits.
fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    // Only one handler per process: a second call (tests in one process) keeps the first.
    let _ = ctrlc::set_handler(move || {
        if s.swap(true, Ordering::Relaxed) {
            eprintln!("crest: stopping (again: exiting now)");
            std::process::exit(130);
        }
        eprintln!("crest: stopping after the messages already read");
    });
    stop
}

fn collect(a: &CollectArgs) -> Result<(), Failure> {
    let (mut settings, profiles) = load(&a.common)?;
    if !a.inputs.is_empty() {
        settings.sources = if a.inputs.iter().any(|i| i == "-") {
            vec![SourceSettings::Stdin]
        } else {
            vec![SourceSettings::File { path: a.inputs.clone() }]
        };
    }
    if let Some(n) = a.batch_size {
        if n == 0 {
            return Err(Failure::Usage("--batch-size must be at least 1".into()));
        }
        settings.pipeline.queue_size = n;
    }
    if let Some(t) = &a.timeout {
        settings.pipeline.timeout = t.clone();
    }
    let mut store = open_store(&a.common, &settings)?;
    let stop = stop_flag();
    let started = std::time::Instant::now();
    let opts = collect::CollectOptions { skip_invalid: a.skip_invalid, stop };
    let tally = collect::run(&settings, &profiles, store.as_mut(), &opts)?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "collected {} messages in {} batches ({:.0}/s) into the {} store{}",
        tally.messages,
        tally.batches,
        tally.messages as f64 / secs.max(1e-9),
        store.kind(),
        if tally.invalid > 0 {
            format!("; skipped {} malformed records", tally.invalid)
        } else {
            String::new()
        }
    );
    for (name, [matched, events, anomalies, skipped, learning]) in &tally.profiles {
        let mut line =
            format!("  {name}: {matched} matched, {events} events, {anomalies} anomalies");
        if *learning > 0 {
            line.push_str(&format!(" ({learning} messages while their actor was learning)"));
        }
        if *skipped > 0 {
            line.push_str(&format!(", {skipped} skipped"));
        }
        eprintln!("{line}");
    }
    Ok(())
}

fn investigate(a: &InvestigateArgs) -> Result<(), Failure> {
    let (settings, profiles) = load(&a.common)?;
    let now = match &a.now {
        Some(t) => Some(
            crest_core::time::parse_instant_text(t)
                .ok_or_else(|| Failure::Usage(format!("--now: '{t}' is not a time")))?,
        ),
        None => None,
    };
    let mut store = open_store(&a.common, &settings)?;
    let stop = stop_flag();
    let windows =
        investigate::run(&profiles, store.as_mut(), &settings.shippers, a.once, now, &stop)?;
    eprintln!("{windows} window(s) investigated");
    Ok(())
}

fn show(a: &ShowArgs) -> Result<(), Failure> {
    let (settings, profiles) = load(&a.common)?;
    let mut store = open_store(&a.common, &settings)?;
    let mut found = false;
    let mut docs = Vec::new();
    for p in &profiles {
        let Some(view) = store.actor(p, &a.actor).map_err(|e| Failure::Run(e.into()))? else {
            continue;
        };
        found = true;
        match a.format {
            ShowFormat::Json => docs.push(serde_json::json!({
                "profile": p.name,
                "actor": view.name,
                "first_seen": investigate::rfc3339(view.first_seen),
                "events": view.events,
                "anomalies": view.anomalies,
                "features": view.features.iter().map(|(f, vals)| serde_json::json!({
                    "feature": f,
                    "distinct": vals.len(),
                    "total": vals.iter().map(|v| v.1).sum::<f64>(),
                    "values": vals.iter().take(a.top).map(|(v, c)| serde_json::json!([v, c])).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })),
            ShowFormat::Table => {
                println!(
                    "{} in profile {} (first seen {}): {} events, {} anomalies",
                    view.name,
                    p.name,
                    investigate::rfc3339(view.first_seen),
                    view.events,
                    view.anomalies
                );
                for ((f, vals), feature) in view.features.iter().zip(&p.features) {
                    let total: f64 = vals.iter().map(|v| v.1).sum();
                    println!("  {f} ({}): {} distinct values, {} in all", feature.reporter.name(), vals.len(), fmt_count(total));
                    for (v, c) in vals.iter().take(a.top) {
                        let numeric = feature.reporter == crest_profile::config::ReporterKind::Numeric;
                        let shown = match v.parse::<i64>() {
                            _ if v.is_empty() => "null".to_string(),
                            Ok(bin) if numeric => format!("≈{:.0}", crest_profile::model::bin_value(bin)),
                            _ => v.clone(),
                        };
                        println!("    {:>10}  {:>5.1}%  {shown}", fmt_count(*c), 100.0 * c / total.max(1e-12));
                    }
                    if vals.len() > a.top {
                        println!("    … {} more", vals.len() - a.top);
                    }
                }
            }
        }
    }
    if a.format == ShowFormat::Json {
        println!("{}", serde_json::to_string_pretty(&docs).map_err(|e| Failure::Run(e.into()))?);
    }
    if !found {
        return Err(Failure::Run(anyhow!(
            "no actor '{}' in the store ({})",
            a.actor,
            store.kind()
        )));
    }
    Ok(())
}

fn fmt_count(x: f64) -> String {
    if x.fract() == 0.0 { format!("{}", x as i64) } else { format!("{x:.2}") }
}

impl From<crest_profile_store::StoreError> for Failure {
    fn from(e: crest_profile_store::StoreError) -> Self {
        Failure::Run(anyhow::Error::new(e))
    }
}
