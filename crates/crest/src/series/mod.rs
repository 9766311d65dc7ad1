//! `crest series`: events to metric series, scores per point, Seyren checks and pictures.

mod check;
mod extract;
mod input;
mod method;
mod plot;
mod score;
mod store;

use clap::{Args, Subcommand};

use crate::Failure;

/// `crest series` and its subcommands.
#[derive(Debug, Args)]
pub(crate) struct SeriesArgs {
    #[command(subcommand)]
    pub(crate) command: SeriesCommand,
}

/// The subcommands of `crest series`.
#[derive(Debug, Subcommand)]
pub(crate) enum SeriesCommand {
    /// Turn events into metric series on an epoch-aligned grid (count, sum, distinct … by key).
    Extract(Box<extract::ExtractArgs>),
    /// Score every point of a `timestamp,value` CSV with a detector.
    Score(Box<score::ScoreArgs>),
    /// Seyren checks: OK/WARN/ERROR per series from warn and error thresholds.
    Check(Box<check::CheckArgs>),
    /// Draw a series with its band and its anomalies, to SVG or PNG.
    Plot(Box<plot::PlotArgs>),
    /// Keep series in a kairos-style store (embedded or Redis): write, read, list, delete.
    Store(Box<store::StoreArgs>),
}

/// Runs one `crest series` subcommand.
pub(crate) fn run(args: &SeriesArgs) -> Result<(), Failure> {
    match &args.command {
        SeriesCommand::Extract(a) => extract::run(a),
        SeriesCommand::Score(a) => score::run(a),
        SeriesCommand::Check(a) => check::run(a),
        SeriesCommand::Plot(a) => plot::run(a),
        SeriesCommand::Store(a) => store::run(a),
    }
}

/// Writes to standard output; a closed pipe (`| head`) is not an error worth a message.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to standard output"))
        }
        _ => Ok(()),
    }
}

/// Quotes a CSV field when it needs it.
fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

/// A time as people read it: `YYYY-MM-DD HH:MM:SS` in UTC.
fn utc_text(time: i64) -> String {
    jiff::Timestamp::from_second(time)
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| time.to_string())
}
