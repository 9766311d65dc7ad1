//! The `crest` command: a thin shell over crest's library crates.
//!
//! `main` parses the arguments, runs one command, and turns the outcome into the exit status
//! in one place: 0 when the command ran (whatever it found), 1 on an error, 2 on a usage error.

mod cli;
mod flows;
mod fsutil;
mod logging;
mod output;
mod peaks;
mod profile;
mod progress;
mod series;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::logging::Verbosity;

/// mimalloc: the profile and flows paths allocate many small strings per record from several
/// threads, where glibc's allocator spends a fifth of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Why a command did not complete.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The arguments are wrong (exit status 2).
    Usage(String),
    /// The command failed (exit status 1).
    Run(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Run(e)
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version print to stdout and exit 0; usage errors exit 2.
        Err(e) => e.exit(),
    };
    let result = match &cli.command {
        Command::Peaks(args) => {
            logging::init(if args.quiet {
                Verbosity::Quiet
            } else if args.verbose {
                Verbosity::Verbose
            } else {
                Verbosity::Normal
            });
            peaks::run(args)
        }
        Command::Series(args) => {
            logging::init(Verbosity::Normal);
            series::run(args)
        }
        Command::Profile(args) => {
            logging::init(Verbosity::Normal);
            profile::run(args)
        }
        Command::Flows(args) => {
            logging::init(Verbosity::Normal);
            flows::run(args)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("crest: error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Run(err)) => {
            eprintln!("crest: error: {err:#}");
            ExitCode::from(1)
        }
    }
}
