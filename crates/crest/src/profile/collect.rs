//! `crest profile collect`: sources → batches → every profile's model → the store.
//!
//! ScryWarden's pipeline, with its settings honoured: a batch is processed when `queue_size`
//! messages are waiting or `timeout` after its first message, whichever comes first. On
//! Ctrl-C or SIGTERM the sources stop, the messages already read are processed, and the store
//! is flushed: no batch in flight is lost.
//!
//! Two stages overlap: a batcher thread forms the batches and parses them (on all cores), while
//! the calling thread scores the previous batch and writes it to the store. Batches keep their
//! order, so the results are those of one thread doing both in turn.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use crest_profile::config::{Profile, parse_duration};
use crest_profile::model::{Extraction, Message, ModelState, Outcome};
use crest_profile::value::{Doc, Keys, Scanned};
use crest_profile_store::ProfileStore;
use crest_sources::KeyScanner;
use rayon::prelude::*;
use serde_json::Value;

use super::settings::Settings;
use super::source::{self, Block, Entry, Payload};

/// Messages waiting in a batch, with their arrival time (µs).
enum Pending {
    /// Lines `.2` of a block of JSON Lines.
    Lines(i64, Arc<Block>, std::ops::Range<usize>),
    /// Decoded documents.
    Values(i64, Vec<Value>),
}

impl Pending {
    fn arrival(&self) -> i64 {
        match self {
            Pending::Lines(t, ..) | Pending::Values(t, _) => *t,
        }
    }

    fn len(&self) -> usize {
        match self {
            Pending::Lines(_, _, lines) => lines.len(),
            Pending::Values(_, values) => values.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Splits off the messages after the first `n`.
    fn split_off(&mut self, n: usize) -> Pending {
        match self {
            Pending::Lines(t, block, lines) => {
                let rest = lines.start + n..lines.end;
                lines.end = rest.start;
                Pending::Lines(*t, Arc::clone(block), rest)
            }
            Pending::Values(t, values) => Pending::Values(*t, values.split_off(n)),
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

/// A parsed batch, as the batcher hands it to the scorer.
struct Batch {
    /// The messages that parsed.
    messages: Vec<Message>,
    /// What each profile takes from them, in the profiles' order.
    extractions: Vec<Extraction>,
    /// How many malformed ones were skipped.
    invalid: u64,
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
    let mut forks = Vec::new();
    for _ in 1..profiles.len() {
        match store.fork().context("cannot open another connection to the store")? {
            Some(f) => forks.push(f),
            None => break,
        }
    }
    let mut run = Running {
        profiles,
        states: Vec::with_capacity(profiles.len()),
        store,
        forks,
        tally: Tally {
            profiles: profiles.iter().map(|p| (p.name.clone(), [0; 5])).collect(),
            ..Default::default()
        },
        skip_invalid: opts.skip_invalid,
    };
    for (i, p) in profiles.iter().enumerate() {
        let state = store_for(&mut *run.store, &mut run.forks, i)
            .open(p)
            .with_context(|| format!("profile '{}': cannot open the store", p.name))?;
        run.states.push(state);
    }
    // Entries hold up to a block of messages each: a few in flight keep every core busy.
    let (tx, rx) = sync_channel::<Entry>(16);
    let (active, simulated) = source::start(&settings.sources, &tx, &opts.stop)?;
    drop(tx);
    let keys = Arc::new(Keys::new(profiles.iter().flat_map(Profile::top_keys)));
    let batcher = Batcher {
        profiles,
        scanner: KeyScanner::new(keys.names()),
        keys,
        queue_size,
        timeout_us,
        simulated,
        skip_invalid: opts.skip_invalid,
        stop: Arc::clone(&opts.stop),
    };
    // One parsed batch waits while the previous one is scored.
    let (batch_tx, batch_rx) = sync_channel::<Batch>(1);
    let batched = std::thread::scope(|scope| {
        let batcher = scope.spawn(move || batcher.run(rx, active, &batch_tx));
        let scored = batch_rx.iter().try_for_each(|b| run.process(b));
        // On a scoring error the channel closes and the batcher stops at its next batch.
        drop(batch_rx);
        let batched = batcher.join().unwrap_or_else(|_| Err(anyhow!("the batcher panicked")));
        scored.map(|()| batched)
    })?;
    // Everything read is processed, even on a stop or a failing source.
    for (i, (p, state)) in run.profiles.iter().zip(&run.states).enumerate() {
        store_for(&mut *run.store, &mut run.forks, i)
            .flush(p, state)
            .with_context(|| format!("profile '{}': cannot save", p.name))?;
    }
    batched?;
    Ok(run.tally)
}

/// The first stage: forms batches from the sources' entries, parses them and extracts what
/// each profile reads (none of which depends on the models' state).
struct Batcher<'a> {
    profiles: &'a [Profile],
    /// The top-level keys the profiles read, and the scanner that pulls them out of a line.
    keys: Arc<Keys>,
    scanner: KeyScanner,
    queue_size: usize,
    timeout_us: i64,
    simulated: bool,
    skip_invalid: bool,
    stop: Arc<AtomicBool>,
}

impl Batcher<'_> {
    /// Batches until every source ends; the error of a failing source (after its messages are
    /// batched), or of a malformed message the user did not ask to skip.
    fn run(
        &self,
        rx: Receiver<Entry>,
        mut active: usize,
        out: &SyncSender<Batch>,
    ) -> anyhow::Result<()> {
        let (queue_size, timeout_us) = (self.queue_size, self.timeout_us);
        let timeout = Duration::from_micros(timeout_us as u64);
        let mut batch: Vec<Pending> = Vec::new();
        // How many messages `batch` holds.
        let mut held = 0;
        let mut first_wall: Option<Instant> = None;
        let mut failure = None;
        // False once the scorer has stopped listening.
        let send = |batch: &mut Vec<Pending>, held: &mut usize| -> anyhow::Result<bool> {
            if batch.is_empty() {
                return Ok(true);
            }
            let parsed = self.parse(std::mem::take(batch), std::mem::take(held))?;
            Ok(out.send(parsed).is_ok())
        };
        while active > 0 {
            let wait = match first_wall {
                Some(t) if !self.simulated => timeout.saturating_sub(t.elapsed()),
                _ => Duration::from_millis(200),
            };
            match rx.recv_timeout(wait) {
                Ok(Entry::Messages(at, payload)) => {
                    // Simulated time: the timeout runs on the messages' stamps.
                    if self.simulated
                        && batch.first().is_some_and(|p| at - p.arrival() >= timeout_us)
                    {
                        if !send(&mut batch, &mut held)? {
                            return Ok(());
                        }
                        first_wall = None;
                    }
                    let mut pending = match payload {
                        Payload::Lines(block) => {
                            let lines = 0..block.lines.len();
                            Pending::Lines(at, block, lines)
                        }
                        Payload::Values(values) => Pending::Values(at, values),
                    };
                    while !pending.is_empty() {
                        if batch.is_empty() {
                            first_wall = Some(Instant::now());
                        }
                        let room = queue_size - held;
                        let rest = (pending.len() > room).then(|| pending.split_off(room));
                        held += pending.len();
                        batch.push(pending);
                        if held >= queue_size {
                            if !send(&mut batch, &mut held)? {
                                return Ok(());
                            }
                            first_wall = None;
                        }
                        match rest {
                            Some(rest) => pending = rest,
                            None => break,
                        }
                    }
                }
                Ok(Entry::Done) => active -= 1,
                Ok(Entry::Failed(e)) => {
                    active -= 1;
                    self.stop.store(true, Ordering::Relaxed);
                    failure.get_or_insert(e);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if !self.simulated && first_wall.is_some_and(|t| t.elapsed() >= timeout) {
                        if !send(&mut batch, &mut held)? {
                            return Ok(());
                        }
                        first_wall = None;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        send(&mut batch, &mut held)?;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Parses a batch and extracts what each profile reads, on all cores, a chunk at a time;
    /// errors name the input and line.
    fn parse(&self, batch: Vec<Pending>, len: usize) -> anyhow::Result<Batch> {
        let parts: Vec<Part> = batch.into_par_iter().map(|p| self.parse_part(p)).collect();
        let mut messages = Vec::with_capacity(len);
        let mut extractions: Vec<Extraction> =
            self.profiles.iter().map(Extraction::empty).collect();
        let mut invalid = 0;
        for (i, all) in extractions.iter_mut().enumerate() {
            all.reserve_for(parts.iter().map(|p| &p.extractions[i]));
        }
        for part in parts {
            if let Some(e) = part.error {
                bail!("{e} (use --skip-invalid to skip and count such records)");
            }
            invalid += part.invalid;
            for (all, e) in extractions.iter_mut().zip(part.extractions) {
                all.append(e, messages.len());
            }
            messages.extend(part.messages);
        }
        Ok(Batch { messages, extractions, invalid })
    }

    /// One part of a batch (a block's lines, or a run of documents): each message parsed (a
    /// line's fields read as it is scanned, never decoded as a whole) and offered to every
    /// profile.
    fn parse_part(&self, pending: Pending) -> Part {
        let mut part = Part {
            messages: Vec::with_capacity(pending.len()),
            extractions: self.profiles.iter().map(Extraction::empty).collect(),
            invalid: 0,
            error: None,
        };
        match pending {
            Pending::Values(arrival_us, values) => {
                for data in values {
                    let index = part.messages.len();
                    for (p, e) in self.profiles.iter().zip(&mut part.extractions) {
                        e.push(p, index, arrival_us, &data);
                    }
                    part.messages.push(Message::new(arrival_us, data));
                }
            }
            Pending::Lines(arrival_us, block, lines) => {
                let input = &block.input;
                for (span, line) in block.lines[lines].iter().cloned() {
                    let text = &block.text[span.clone()];
                    let scanned = self
                        .scanner
                        .scan(text.as_bytes())
                        .map_err(|e| {
                            format!(
                                "{input}: line {line}, column {}: malformed JSON: {}",
                                e.offset + 1,
                                e.message
                            )
                        })
                        .and_then(|raw| {
                            Scanned::new(&self.keys, raw, text)
                                .map_err(|e| format!("{input}: line {line}: malformed JSON: {e}"))
                        });
                    match scanned {
                        Ok(fields) => {
                            let index = part.messages.len();
                            for (p, e) in self.profiles.iter().zip(&mut part.extractions) {
                                e.push(p, index, arrival_us, &fields);
                            }
                        }
                        Err(e) if self.skip_invalid => {
                            part.invalid += 1;
                            tracing::debug!("skipped: {e}");
                            continue;
                        }
                        Err(e) => {
                            part.error = Some(e);
                            return part;
                        }
                    }
                    let data = Doc::Text { text: Arc::clone(&block.text), span };
                    part.messages.push(Message { arrival_us, data });
                }
            }
        }
        part
    }
}

/// What [`Batcher::parse_part`] made of a part of a batch.
struct Part {
    messages: Vec<Message>,
    extractions: Vec<Extraction>,
    invalid: u64,
    /// The first malformed message, when they are not skipped.
    error: Option<String>,
}

/// The second stage: scores batches and writes them to the store.
struct Running<'a> {
    profiles: &'a [Profile],
    states: Vec<ModelState>,
    store: &'a mut dyn ProfileStore,
    /// Handles for profiles 1, 2 … when the store has them (PostgreSQL: a connection per
    /// profile, so that profiles load and commit side by side); empty otherwise.
    forks: Vec<Box<dyn ProfileStore>>,
    tally: Tally,
    skip_invalid: bool,
}

impl Running<'_> {
    fn process(&mut self, batch: Batch) -> anyhow::Result<()> {
        let Batch { messages, extractions, invalid } = batch;
        self.tally.invalid += invalid;
        self.tally.batches += 1;
        self.tally.messages += messages.len() as u64 + invalid;
        if messages.is_empty() {
            return Ok(());
        }
        let shared = self.store.shared();
        let (batch_no, skip_invalid) = (self.tally.batches, self.skip_invalid);
        let outcomes: Vec<anyhow::Result<Outcome>> = if !self.forks.is_empty() {
            // A connection per profile: each loads, scores and commits on its own core.
            let mut stores: Vec<&mut dyn ProfileStore> = vec![&mut *self.store];
            for f in &mut self.forks {
                stores.push(f.as_mut());
            }
            stores
                .into_par_iter()
                .zip(self.states.par_iter_mut())
                .zip(self.profiles.par_iter())
                .zip(extractions.into_par_iter())
                .map(|(((store, state), profile), e)| {
                    let (actors, values) = e.touched(profile);
                    store.load(profile, state, &actors, &values).with_context(|| {
                        format!("profile '{}': cannot load actors", profile.name)
                    })?;
                    let out = state.score_extracted(profile, e, shared);
                    usable(profile, &out, batch_no, skip_invalid)?;
                    store.commit(profile, &messages, &out).with_context(|| {
                        format!("profile '{}': cannot write the batch", profile.name)
                    })?;
                    Ok(out)
                })
                .collect()
        } else {
            if shared {
                for (i, e) in extractions.iter().enumerate() {
                    let (profile, state) = (&self.profiles[i], &mut self.states[i]);
                    let (actors, values) = e.touched(profile);
                    self.store.load(profile, state, &actors, &values).with_context(|| {
                        format!("profile '{}': cannot load actors", profile.name)
                    })?;
                }
            }
            // Profiles are independent: each scores on its own core. The embedded store keeps
            // the whole state, so only a shared one needs the count changes.
            let scored: Vec<Outcome> = self
                .states
                .par_iter_mut()
                .zip(self.profiles.par_iter())
                .zip(extractions.into_par_iter())
                .map(|((state, profile), e)| state.score_extracted(profile, e, shared))
                .collect();
            let mut outcomes = Vec::with_capacity(scored.len());
            for (profile, out) in self.profiles.iter().zip(scored) {
                usable(profile, &out, batch_no, skip_invalid)?;
                self.store.commit(profile, &messages, &out).with_context(|| {
                    format!("profile '{}': cannot write the batch", profile.name)
                })?;
                outcomes.push(Ok(out));
            }
            outcomes
        };
        for (i, out) in outcomes.into_iter().enumerate() {
            let out = out?;
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

/// The store profile `i` is opened on, loaded from, committed to and flushed to: its own fork
/// when there are forks, else the one store.
fn store_for<'s>(
    store: &'s mut dyn ProfileStore,
    forks: &'s mut [Box<dyn ProfileStore>],
    i: usize,
) -> &'s mut dyn ProfileStore {
    match i.checked_sub(1).and_then(|f| forks.get_mut(f)) {
        Some(fork) => fork.as_mut(),
        None => store,
    }
}

/// An error for the first message a profile could not use, unless the user asked to skip them.
fn usable(profile: &Profile, out: &Outcome, batch: u64, skip_invalid: bool) -> anyhow::Result<()> {
    match out.skipped.first() {
        Some(s) if !skip_invalid => bail!(
            "profile '{}': message {} of batch {batch}: field '{}': {} (use --skip-invalid to skip and count such messages)",
            profile.name,
            s.message + 1,
            s.field,
            s.reason
        ),
        _ => Ok(()),
    }
}
