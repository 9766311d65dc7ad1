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
mod run;
mod series;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::logging::Verbosity;

/// mimalloc: the profile and flows paths allocate many small strings per record from several
/// threads, where glibc's allocator spends a fifth of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process (Linux). mimalloc asks for them on its
/// arenas; each first touch of one then zeroes 2 MiB, which on `crest profile collect` cost a
/// seventh of the CPU time (more in a virtual machine) and a quarter more resident memory.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

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
    no_transparent_huge_pages();
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
        Command::Run(args) => {
            logging::init_service(args.log_format == run::LogFormat::Json);
            run::run(args)
        }
        Command::Config(args) => run::config(args),
        Command::Publish(args) => {
            logging::init(Verbosity::Normal);
            run::publish(args)
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
