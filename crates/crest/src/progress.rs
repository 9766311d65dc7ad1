//! A progress bar for long reads: bytes, throughput and records per second, on a terminal only.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crest_sources::{Input, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Runs have to last this long before a bar appears (short runs stay clean).
const SHOW_AFTER: Duration = Duration::from_millis(400);

/// A progress display polling the source's counters from its own thread.
pub(crate) struct ProgressDisplay {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressDisplay {
    /// Starts a display for `total` input bytes (unknown for standard input), if standard error
    /// is a terminal and `enabled`; otherwise does nothing.
    pub(crate) fn start(
        counters: Arc<Progress>,
        total: Option<u64>,
        enabled: bool,
    ) -> ProgressDisplay {
        let stop = Arc::new(AtomicBool::new(false));
        if !enabled || !std::io::stderr().is_terminal() {
            return ProgressDisplay { stop, thread: None };
        }
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut bar: Option<ProgressBar> = None;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if bar.is_none() && started.elapsed() >= SHOW_AFTER {
                    bar = Some(new_bar(total));
                }
                if let Some(bar) = &bar {
                    update(bar, &counters, started);
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        });
        ProgressDisplay { stop, thread: Some(thread) }
    }

    /// Stops and clears the display.
    pub(crate) fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn new_bar(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr_with_hz(10))
            .with_style(
                ProgressStyle::with_template(
                    "{spinner} reading {bar:30} {bytes}/{total_bytes} {msg} [{elapsed}, eta {eta}]",
                )
                .expect("valid template"),
            ),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10))
            .with_style(
                ProgressStyle::with_template("{spinner} reading {bytes} {msg} [{elapsed}]")
                    .expect("valid template"),
            ),
    };
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Rates are averages since the start of the read (indicatif's own estimate would start from
/// the moment the bar appears, and count everything read before it as instantaneous).
fn update(bar: &ProgressBar, counters: &Progress, started: Instant) {
    let bytes = counters.bytes();
    bar.set_position(bytes);
    let records = counters.records();
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    bar.set_message(format!(
        "{}B/s, {} records, {}/s",
        human(bytes as f64 / secs),
        human(records as f64),
        human(records as f64 / secs)
    ));
}

fn human(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.1}G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// The total size of the inputs in bytes, when every one is a file (a bar needs a total).
pub(crate) fn total_bytes(inputs: &[Input]) -> Option<u64> {
    inputs
        .iter()
        .map(|i| match i {
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
        })
        .sum()
}
