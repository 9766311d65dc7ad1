//! Writes a synthetic Zeek `conn.log` (TSV) of a small office with planted threats to stdout
//! (see `crest_testing::flows`).
//!
//! ```text
//! cargo run -p crest-testing --example make_flow_logs -- [--hosts N] [--hours H]
//!     [--rate CONNS_PER_HOST_HOUR] [--seed S] [--no-threats]
//! ```
//!
//! The README's example file is regenerated, from the workspace root, with
//!
//! ```text
//! cargo run -q -p crest-testing --example make_flow_logs | gzip -n > examples/flows/conn.log.gz
//! ```

use std::io::{BufWriter, ErrorKind, Write};
use std::process::ExitCode;

use crest_testing::flows::{FlowLogSpec, zeek_conn_log};

const USAGE: &str = "usage: make_flow_logs [--hosts N] [--hours H] [--rate CONNS_PER_HOST_HOUR] [--seed S] [--no-threats]";

fn parse_args() -> Result<FlowLogSpec, String> {
    let mut spec = FlowLogSpec::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "-h" | "--help" => return Err(USAGE.to_string()),
            "--no-threats" => {
                spec.plant = false;
                continue;
            }
            _ => {}
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |_| format!("{flag}: not a number: {value}");
        match flag.as_str() {
            "--hosts" => spec.hosts = value.parse().map_err(bad)?,
            "--hours" => spec.hours = value.parse().map_err(bad)?,
            "--rate" => spec.conns_per_host_hour = value.parse().map_err(bad)?,
            "--seed" => spec.seed = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if spec.hosts == 0 || spec.hosts > 240 {
        return Err("--hosts must be between 1 and 240".into());
    }
    Ok(spec)
}

fn main() -> ExitCode {
    let spec = match parse_args() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    match zeek_conn_log(&spec, &mut out).and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make_flow_logs: {e}");
            ExitCode::FAILURE
        }
    }
}
