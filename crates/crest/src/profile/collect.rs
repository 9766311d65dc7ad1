//! `crest profile collect`: sources → batches → every profile's model → the store.
//!
//! ScryWarden's pipeline, with its settings honoured: a batch is processed when `queue_size`
//! messages are waiting or `timeout` after its first message, whichever comes first. On
//! Ctrl-C or SIGTERM the sources stop, the messages already read are processed, and the store
//! is flushed: no batch in flight is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use crest_profile::config::{Profile, parse_duration};
use crest_profile::model::{Message, ModelState};
use crest_profile::value::{Doc, Keys, Projected};
use crest_profile_store::ProfileStore;
use crest_sources::KeyScanner;
use rayon::prelude::*;
use serde_json::Value;

use super::settings::Settings;
use super::source::{self, Block, Entry, Payload};

/// One message waiting in a batch, with its arrival time (µs).
enum Pending {
    /// Line `.2` of a block of JSON Lines.
    Line(i64, Arc<Block>, usize),
    /// A decoded document.
    Value(i64, Value),
}

impl Pending {
    fn arrival(&self) -> i64 {
        match self {
            Pending::Line(t, ..) | Pending::Value(t, _) => *t,
        }
    }
}

/// What one collect run did, per profile and overall.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) messages: u64,
    pub(crate) batches: u64,
    pub(crate) invalid: u64,
    /// Per profile: matched, events, anomalies, skipped, withheld while learning.
    pub(crate) profiles: Vec<(String, [u64; 5])>,
}

/// Options of one run.
pub(crate) struct CollectOptions {
    pub(crate) skip_invalid: bool,
    pub(crate) stop: Arc<AtomicBool>,
}

struct Running<'a> {
    profiles: &'a [Profile],
    /// The top-level keys the profiles read, and the scanner that pulls them out of a line.
    keys: Arc<Keys>,
    scanner: KeyScanner,
    states: Vec<ModelState>,
    store: &'a mut dyn ProfileStore,
    tally: Tally,
    skip_invalid: bool,
}

/// Runs the pipeline until every source ends or a stop is asked for.
pub(crate) fn run(
    settings: &Settings,
    profiles: &[Profile],
    store: &mut dyn ProfileStore,
    opts: &CollectOptions,
) -> anyhow::Result<Tally> {
    let queue_size = settings.pipeline.queue_size.max(1);
    let timeout_us =
        parse_duration(&settings.pipeline.timeout).map_err(|e| anyhow!("pipeline.timeout: {e}"))?;
    if settings.sources.is_empty() {
        bail!("no source: give input files, or add a [[source]] to the config");
    }
    let mut states = Vec::with_capacity(profiles.len());
    for p in profiles {
        states.push(
            store
                .open(p)
                .with_context(|| format!("profile '{}': cannot open the store", p.name))?,
        );
    }
    let keys = Arc::new(Keys::new(profiles.iter().flat_map(Profile::top_keys)));
    let mut run = Running {
        profiles,
        scanner: KeyScanner::new(keys.names()),
        keys,
        states,
        store,
        tally: Tally {
            profiles: profiles.iter().map(|p| (p.name.clone(), [0; 5])).collect(),
            ..Default::default()
        },
        skip_invalid: opts.skip_invalid,
    };
    // Entries hold up to a block of messages each: a few in flight keep every core busy.
    let (tx, rx) = sync_channel::<Entry>(16);
    let (mut active, simulated) = source::start(&settings.sources, &tx, &opts.stop)?;
    drop(tx);
    let mut batch: Vec<Pending> = Vec::with_capacity(queue_size);
    let mut first_wall: Option<Instant> = None;
    let mut failure = None;
    while active > 0 {
        let wait = match first_wall {
            Some(t) if !simulated => {
                Duration::from_micros(timeout_us as u64).saturating_sub(t.elapsed())
            }
            _ => Duration::from_millis(200),
        };
        match rx.recv_timeout(wait) {
            Ok(Entry::Messages(at, payload)) => {
                // Simulated time: the timeout runs on the messages' stamps.
                if simulated && batch.first().is_some_and(|p| at - p.arrival() >= timeout_us) {
                    run.process(std::mem::take(&mut batch))?;
                    first_wall = None;
                }
                let messages: Box<dyn Iterator<Item = Pending>> = match payload {
                    Payload::Lines(block) => Box::new(
                        (0..block.lines.len())
                            .map(move |i| Pending::Line(at, Arc::clone(&block), i)),
                    ),
                    Payload::Values(values) => {
                        Box::new(values.into_iter().map(move |v| Pending::Value(at, v)))
                    }
                };
                for m in messages {
                    if batch.is_empty() {
                        first_wall = Some(Instant::now());
                    }
                    batch.push(m);
                    if batch.len() >= queue_size {
                        run.process(std::mem::take(&mut batch))?;
                        first_wall = None;
                    }
                }
            }
            Ok(Entry::Done) => active -= 1,
            Ok(Entry::Failed(e)) => {
                active -= 1;
                opts.stop.store(true, Ordering::Relaxed);
                failure.get_or_insert(e);
            }
            Err(RecvTimeoutError::Timeout) => {
                if !simulated
                    && first_wall
                        .is_some_and(|t| t.elapsed() >= Duration::from_micros(timeout_us as u64))
                {
                    run.process(std::mem::take(&mut batch))?;
                    first_wall = None;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // Everything read is processed, even on a stop or a failing source.
    run.process(std::mem::take(&mut batch))?;
    for (p, state) in run.profiles.iter().zip(&run.states) {
        run.store.flush(p, state).with_context(|| format!("profile '{}': cannot save", p.name))?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(run.tally)
}

impl Running<'_> {
    fn process(&mut self, batch: Vec<Pending>) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.tally.batches += 1;
        self.tally.messages += batch.len() as u64;
        // Parse on all cores; errors name the input and line.
        let (keys, scanner) = (&self.keys, &self.scanner);
        let parsed: Vec<Result<Message, String>> = batch
            .into_par_iter()
            .map(|pending| match pending {
                Pending::Value(arrival_us, data) => Ok(Message::new(arrival_us, data)),
                Pending::Line(arrival_us, block, i) => {
                    let (span, line) = block.lines[i].clone();
                    let input = &block.input;
                    let raw = scanner.scan(block.text[span.clone()].as_bytes()).map_err(|e| {
                        format!(
                            "{input}: line {line}, column {}: malformed JSON: {}",
                            e.offset + 1,
                            e.message
                        )
                    })?;
                    let fields =
                        Projected::new(Arc::clone(keys), &raw, Arc::clone(&block.text), span)
                            .map_err(|e| format!("{input}: line {line}: malformed JSON: {e}"))?;
                    Ok(Message { arrival_us, data: Doc::Projected(fields) })
                }
            })
            .collect();
        let mut messages = Vec::with_capacity(parsed.len());
        for p in parsed {
            match p {
                Ok(m) => messages.push(m),
                Err(e) if self.skip_invalid => {
                    self.tally.invalid += 1;
                    tracing::debug!("skipped: {e}");
                }
                Err(e) => bail!("{e} (use --skip-invalid to skip and count such records)"),
            }
        }
        let shared = self.store.shared();
        if shared {
            for (profile, state) in self.profiles.iter().zip(&mut self.states) {
                let (actors, values) = crest_profile::model::touched(profile, &messages);
                let actors: Vec<&str> = actors.iter().map(String::as_str).collect();
                let values: Vec<(usize, &str)> =
                    values.iter().map(|(f, v)| (*f, v.as_str())).collect();
                self.store
                    .load(profile, state, &actors, &values)
                    .with_context(|| format!("profile '{}': cannot load actors", profile.name))?;
            }
        }
        // Profiles are independent: each scores on its own core. The embedded store keeps the
        // whole state, so only a shared one needs the count changes.
        let outcomes: Vec<_> = self
            .states
            .par_iter_mut()
            .zip(self.profiles.par_iter())
            .map(|(state, profile)| state.score_batch_with(profile, &messages, shared))
            .collect();
        for (i, (profile, out)) in self.profiles.iter().zip(outcomes).enumerate() {
            if let Some(s) = out.skipped.first()
                && !self.skip_invalid
            {
                bail!(
                    "profile '{}': message {} of batch {}: field '{}': {} (use --skip-invalid to skip and count such messages)",
                    profile.name,
                    s.message + 1,
                    self.tally.batches,
                    s.field,
                    s.reason
                );
            }
            self.store
                .commit(profile, &messages, &out)
                .with_context(|| format!("profile '{}': cannot write the batch", profile.name))?;
            let t = &mut self.tally.profiles[i].1;
            t[0] += out.matched as u64;
            t[1] += out.events.len() as u64;
            t[2] += out.events.iter().map(|e| e.anomalies.len() as u64).sum::<u64>();
            t[3] += out.skipped.len() as u64;
            t[4] += out.learning as u64;
        }
        tracing::debug!("batch {}: {} messages", self.tally.batches, messages.len());
        Ok(())
    }
}
