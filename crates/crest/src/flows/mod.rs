//! `crest flows`: hosts that scan, beacon, hold connections open for days, talk to blacklisted
//! addresses or use odd ports, ranked by one trust score, from Zeek, Suricata, Argus, NetFlow
//! or the seed analyzer's CSV.

mod input;
mod output;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use crest_flows::analysis::{Analysis, AnalysisConfig};
use crest_flows::evidence::Kind;
use crest_flows::net::PrefixSet;
use crest_flows::read::ReadOptions;
use crest_sources::Progress;

use crate::Failure;
use crate::progress::ProgressDisplay;
use input::{Batch, Named};

/// `crest flows`.
#[derive(Debug, Args)]
#[command(
    about = "Hunt in flow logs: scans, beacons, long connections, blacklisted peers; one trust score per host",
    args_conflicts_with_subcommands = true
)]
pub(crate) struct FlowsArgs {
    #[command(subcommand)]
    view: Option<View>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum View {
    /// Beacons (and strobes), ranked by RITA's beacon score.
    Beacons(Common),
    /// Horizontal and vertical scans and TRW scanners, ranked.
    Scans(Common),
    /// Long connections, ranked by total duration.
    LongConns(Common),
}

/// How to print the results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutFormat {
    /// A readable table (the default on a terminal).
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header.
    Csv,
}

/// Inputs and settings shared by every view.
#[derive(Debug, Args, Clone)]
struct Common {
    /// Flow logs of any format (sniffed), or folders of Zeek logs.
    #[arg(value_name = "PATH")]
    inputs: Vec<PathBuf>,
    /// Zeek conn/open_conn/dns logs (TSV or JSON, plain/gzip/zstd), or folders of them
    /// (hourly-rotated day folders are walked in time order).
    #[arg(long, value_name = "DIR|FILE", num_args = 1..)]
    zeek: Vec<PathBuf>,
    /// The seed analyzer's CSV (ts, ip_protocol, state, src_ip, src_port, dst_ip, dst_port,
    /// src_tx, dst_tx; no header).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    csv: Vec<PathBuf>,
    /// Suricata eve.json (flow events are read, others counted).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    suricata: Vec<PathBuf>,
    /// Argus binetflow (CSV or tab-separated, with a header).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    argus: Vec<PathBuf>,
    /// NetFlow v5/v9 or IPFIX export packets, concatenated.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    netflow: Vec<PathBuf>,
    /// Blacklists / threat-intel feeds: one address or CIDR prefix per line, `#` comments.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    blacklist: Vec<PathBuf>,
    /// Internal subnets (repeatable; default: RFC 1918, loopback, link-local, fd00::/8).
    #[arg(long, value_name = "CIDR", num_args = 1..)]
    internal: Vec<String>,
    /// Keep external→internal pairs in RITA's beacon, strobe and long-connection analysis
    /// (RITA's `filter_external_to_internal = false`), for sensors that watch servers.
    #[arg(long)]
    keep_inbound: bool,
    /// Output format (default: table on a terminal, jsonl otherwise).
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<OutFormat>,
    /// How many rows the table shows (machine formats carry everything).
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// Width of the trust aggregator's time windows, e.g. 1h, 30m, 86400s (0: one window).
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    window: String,
    /// Skip malformed rows (they are counted and reported) instead of stopping at the first.
    #[arg(long)]
    skip_invalid: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// Runs `crest flows`.
pub(crate) fn run(args: &FlowsArgs) -> Result<(), Failure> {
    let (common, view) = match &args.view {
        None => (&args.common, None),
        Some(View::Beacons(c)) => (c, Some(&[Kind::Beacon, Kind::Strobe][..])),
        Some(View::Scans(c)) => {
            (c, Some(&[Kind::HorizontalScan, Kind::VerticalScan, Kind::TrwScanner][..]))
        }
        Some(View::LongConns(c)) => (c, Some(&[Kind::LongConnection][..])),
    };
    let config = config(common)?;
    let named = Named {
        zeek: common.zeek.clone(),
        csv: common.csv.clone(),
        suricata: common.suricata.clone(),
        argus: common.argus.clone(),
        netflow: common.netflow.clone(),
        any: common.inputs.clone(),
    };
    let files = input::discover(&named).map_err(|e| Failure::Usage(format!("{e:#}")))?;
    let total_bytes: u64 =
        files.iter().filter_map(|f| std::fs::metadata(&f.path).ok()).map(|m| m.len()).sum();
    let progress = Arc::new(Progress::default());
    let display =
        ProgressDisplay::start(Arc::clone(&progress), Some(total_bytes), !common.no_progress);
    let started = Instant::now();
    let options = ReadOptions { skip_invalid: common.skip_invalid };
    let (rx, reader) = input::spawn_reader(files, options, Arc::clone(&progress));
    let mut analysis = Analysis::new(config).map_err(|e| Failure::Usage(e.to_string()))?;
    for batch in rx {
        match batch {
            Batch::Flows(flows) => analysis.observe_batch(&flows),
            Batch::Dns(queries) => {
                for q in &queries {
                    analysis.observe_dns(q);
                }
            }
        }
    }
    let totals = reader.join().map_err(|_| anyhow!("the reading thread panicked"))?;
    display.finish();
    let totals = totals?;
    let outcome = analysis.finish();
    let elapsed = started.elapsed();
    let format = common.format.unwrap_or(if std::io::stdout().is_terminal() {
        OutFormat::Table
    } else {
        OutFormat::Jsonl
    });
    let text = match view {
        None => output::hosts(&outcome, format, common.top),
        Some(kinds) => output::evidence(&outcome, kinds, format, common.top),
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => {
            return Err(anyhow::Error::new(e).context("cannot write to standard output").into());
        }
    }
    let mut summary = format!(
        "crest flows: {} flows{} from {} file{} in {:.2} s; {} hosts with evidence",
        totals.flows,
        if totals.dns > 0 { format!(" and {} DNS queries", totals.dns) } else { String::new() },
        totals.files,
        if totals.files == 1 { "" } else { "s" },
        elapsed.as_secs_f64(),
        outcome.report.hosts.len(),
    );
    if totals.other_events > 0 {
        summary.push_str(&format!("; {} non-flow events passed over", totals.other_events));
    }
    if totals.skipped > 0 {
        summary.push_str(&format!(
            "; skipped {} invalid row{} (first: {})",
            totals.skipped,
            if totals.skipped == 1 { "" } else { "s" },
            totals.first_skipped.as_deref().unwrap_or("?")
        ));
    }
    eprintln!("{summary}");
    Ok(())
}

/// The analysis settings from the command line.
fn config(common: &Common) -> Result<AnalysisConfig, Failure> {
    let mut config = AnalysisConfig::default();
    if !common.internal.is_empty() {
        let mut internal = PrefixSet::new();
        internal
            .extend_from_list(&common.internal.join("\n"), "--internal")
            .map_err(|e| Failure::Usage(e.to_string()))?;
        config.internal = internal;
    }
    for path in &common.blacklist {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the blacklist", path.display()))?;
        let name = path.display().to_string();
        // Addresses and prefixes go to the seed's blacklist check, domains to the DNS join.
        config.intel.add_feed(&text, &name).map_err(|e| Failure::Run(anyhow!(e)))?;
        for line in text.lines() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if let Some(net) = crest_flows::net::parse_entry(entry) {
                config.blacklist.insert(net);
            }
        }
    }
    config.rita.filter.filter_external_to_internal = !common.keep_inbound;
    config.trust.window_s = parse_window(&common.window).map_err(Failure::Usage)?;
    Ok(config)
}

/// Parses a window width: a number with an optional unit (s, m, h, d); 0 turns windows off.
fn parse_window(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("--window: not a duration: '{s}'"))?;
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(format!("--window: unknown unit '{unit}' (use s, m, h or d)")),
    };
    if !(n.is_finite() && n >= 0.0) {
        return Err(format!("--window: must be zero or positive: '{s}'"));
    }
    Ok(n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse() {
        assert_eq!(parse_window("1h"), Ok(3600.0));
        assert_eq!(parse_window("30m"), Ok(1800.0));
        assert_eq!(parse_window("90"), Ok(90.0));
        assert_eq!(parse_window("0"), Ok(0.0));
        assert!(parse_window("1w").is_err());
        assert!(parse_window("-1h").is_err());
        assert!(parse_window("soon").is_err());
    }
}
