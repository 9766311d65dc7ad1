//! Writes labelled synthetic authentication and process telemetry as JSON Lines to stdout
//! (see `crest_testing::actors`).
//!
//! ```text
//! cargo run -p crest-testing --example make_auth_logs -- [--actors N] [--days D] [--seed S]
//!     [--attack-from-day D] [--ato N] [--insider N]
//! ```
//!
//! Unset options keep the defaults of `ActorLogSpec` (300 actors, 28 days from Monday
//! 2026-10-05, seed 7, incidents from day 14, 12 account takeovers, 8 insiders).
//!
//! The README's example file is regenerated, from the workspace root, with
//!
//! ```text
//! cargo run -q -p crest-testing --example make_auth_logs -- --actors 40 --days 21 --seed 11 --ato 2 --insider 1 | gzip -n > examples/auth-logs.jsonl.gz
//! ```

use std::io::{BufWriter, ErrorKind, Write};
use std::process::ExitCode;

use crest_testing::actors::{ActorLogSpec, actor_logs};

const USAGE: &str = "usage: make_auth_logs [--actors N] [--days D] [--seed S] \
                     [--attack-from-day D] [--ato N] [--insider N]";

fn parse_args() -> Result<ActorLogSpec, String> {
    let mut spec = ActorLogSpec::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_string());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |_| format!("{flag}: not a number: {value}");
        match flag.as_str() {
            "--actors" => spec.actors = value.parse().map_err(bad)?,
            "--days" => spec.days = value.parse().map_err(bad)?,
            "--seed" => spec.seed = value.parse().map_err(bad)?,
            "--attack-from-day" => spec.attack_from_day = value.parse().map_err(bad)?,
            "--ato" => spec.ato_incidents = value.parse().map_err(bad)?,
            "--insider" => spec.insider_incidents = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(spec)
}

fn main() -> ExitCode {
    let spec = match parse_args() {
        Ok(spec) => spec,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let written = actor_logs(&spec)
        .iter()
        .try_for_each(|e| writeln!(out, "{}", e.json))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        // `| head` closing the pipe is not an error.
        Err(e) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make_auth_logs: {e}");
            ExitCode::FAILURE
        }
    }
}
