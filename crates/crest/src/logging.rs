//! Log lines on standard error, in telemetry-peak-analyzer's format.
//!
//! `INFO -> [2020-11-04 10:00:00] [0015mb] message`: level, local wall clock, resident memory.
//! Drop-in users grep and diff these lines, so crest keeps the shape.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats events as `LEVEL -> [time] [NNNNmb] message`.
struct ReferenceFormat;

impl<S, N> FormatEvent<S, N> for ReferenceFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARNING",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "TRACE",
        };
        let now = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M:%S").to_string();
        write!(writer, "{level} -> [{now}] [{:04}mb] ", resident_mib())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Resident memory in MiB (0 where `/proc` is not available).
pub(crate) fn resident_mib() -> u64 {
    resident_bytes() / (1024 * 1024)
}

/// Resident memory in bytes, from `/proc/self/status` (0 where unavailable).
pub(crate) fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb * 1024)
}

/// How much to log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verbosity {
    /// Warnings and errors only.
    Quiet,
    /// The reference's INFO lines.
    Normal,
    /// Also crest's DEBUG lines (timings, counts).
    Verbose,
}

/// Installs the global subscriber writing to standard error.
pub(crate) fn init(verbosity: Verbosity) {
    let level = match verbosity {
        Verbosity::Quiet => Level::WARN,
        Verbosity::Normal => Level::INFO,
        Verbosity::Verbose => Level::DEBUG,
    };
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .event_format(ReferenceFormat),
        )
        .with(quiet_libraries(level))
        .try_init();
}

/// The service's log (`crest run`): RFC 3339 times and levels as text, or one JSON object per
/// event with `--log-format json`; `RUST_LOG`-style filtering is not needed: INFO and above.
pub(crate) fn init_service(json: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let registry = tracing_subscriber::registry().with(quiet_libraries(Level::INFO));
    let _ = if json {
        registry.with(layer.json()).try_init()
    } else {
        registry.with(layer.with_target(false)).try_init()
    };
}

/// `level` for crest, warnings only from libraries that narrate their connections.
fn quiet_libraries(level: Level) -> tracing_subscriber::filter::Targets {
    tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_target("async_nats", Level::WARN)
}
