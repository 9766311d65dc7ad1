//! Where behavioural profiles live between runs: ScryWarden's data model behind one trait.
//!
//! A [`ProfileStore`] keeps, per profile, the actors, the feature counts (actor, field, value,
//! count), the anomalous messages, their events and anomalies, and the investigations that
//! claimed them. Two backends implement it:
//!
//! - [`EmbeddedStore`], the default: one snapshot file per profile in crest's data directory,
//!   written to a temporary file and renamed; one writer at a time (a lock file says so).
//! - [`PgStore`]: PostgreSQL, in a schema of its own (migrated on connect). Count updates are
//!   atomic upserts (`count = count + excluded.count`, decayed when a half-life is set) taken
//!   in one row order, so several `collect` processes can share one database.
//!
//! The store never scores: the model ([`crest_profile::model::ModelState`]) does, and the store
//! loads its state and persists the [`Outcome`] of each batch.

mod embedded;
mod error;
mod pg;

use crest_profile::analyzer::AnomalyRow;
use crest_profile::config::Profile;
use crest_profile::model::{Message, ModelState, Outcome};
use serde::{Deserialize, Serialize};

pub use embedded::EmbeddedStore;
pub use error::StoreError;
pub use pg::PgStore;

/// One investigation of a profile: a window of events claimed and analysed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Investigation {
    /// The investigation's id.
    pub id: i64,
    /// Its position in the profile's sequence, from 1 (the claim: unique per profile).
    pub index: i64,
    /// The window's start, exclusive (microseconds).
    pub after: i64,
    /// The window's end, inclusive (microseconds).
    pub until: i64,
    /// The latest event time among the events it claimed (where the next window starts).
    pub last_event: i64,
    /// How many events it claimed.
    pub events: u64,
    /// The ids of the anomalies found malicious.
    pub malicious: Vec<i64>,
    /// Whether the analysis finished.
    pub completed: bool,
}

/// What a store holds of one actor, for `crest profile show`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActorView {
    /// The actor's id.
    pub id: i64,
    /// The actor's name.
    pub name: String,
    /// When it was first seen (microseconds).
    pub first_seen: i64,
    /// Per feature (in the profile's order): its name and values with counts, most frequent
    /// first.
    pub features: Vec<(String, Vec<(String, f64)>)>,
    /// How many events (anomalous messages) it has.
    pub events: u64,
    /// How many anomalies those events hold.
    pub anomalies: u64,
}

/// How many rows of each kind a profile has (for status lines and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Actors.
    pub actors: u64,
    /// Feature rows (actor, field, value).
    pub features: u64,
    /// Stored (anomalous) messages.
    pub messages: u64,
    /// Events.
    pub events: u64,
    /// Anomalies.
    pub anomalies: u64,
    /// Investigations.
    pub investigations: u64,
}

/// The operations `crest profile` needs of a store.
pub trait ProfileStore: Send {
    /// The backend's name for messages: `embedded` or `postgres`.
    fn kind(&self) -> &'static str;

    /// Another handle on the same store for a second thread (PostgreSQL: another connection),
    /// so that profiles can be loaded and committed side by side; `None` when the backend has
    /// no use for one (the embedded store commits to memory).
    fn fork(&self) -> Result<Option<Box<dyn ProfileStore>>, StoreError> {
        Ok(None)
    }

    /// Whether other processes may write the same profiles: the caller then calls
    /// [`load`](Self::load) before scoring every batch instead of trusting what it holds.
    fn shared(&self) -> bool;

    /// Registers the profile and its features (creating them on first use) and returns the
    /// state to start from: everything for an embedded store, nothing for a shared one.
    fn open(&mut self, profile: &Profile) -> Result<ModelState, StoreError>;

    /// Brings `state` up to date with what is stored for these actors and, for these (feature,
    /// value) pairs, how many actors report the value of how many. `state` must be the one
    /// [`open`](Self::open) returned, changed only by scoring batches that were then committed:
    /// a store may skip what it knows `state` already holds (PostgreSQL skips everything it
    /// loaded before while no other writer has committed).
    fn load(
        &mut self,
        profile: &Profile,
        state: &mut ModelState,
        actors: &[&str],
        values: &[(usize, &str)],
    ) -> Result<(), StoreError>;

    /// Persists one scored batch atomically: new actors, count changes, and the anomalous
    /// messages with their events and anomalies.
    fn commit(
        &mut self,
        profile: &Profile,
        batch: &[Message],
        outcome: &Outcome,
    ) -> Result<(), StoreError>;

    /// Makes everything written durable; `state` is the model's current state (the embedded
    /// store saves it).
    fn flush(&mut self, profile: &Profile, state: &ModelState) -> Result<(), StoreError>;

    /// The time of the profile's earliest event.
    fn first_event(&mut self, profile: &Profile) -> Result<Option<i64>, StoreError>;

    /// The time of the profile's earliest event strictly after `after`.
    fn next_event_after(
        &mut self,
        profile: &Profile,
        after: i64,
    ) -> Result<Option<i64>, StoreError>;

    /// The anomalies of the profile's events with `after < time ≤ until`, by event then
    /// anomaly id.
    fn anomalies(
        &mut self,
        profile: &Profile,
        after: i64,
        until: i64,
    ) -> Result<Vec<AnomalyRow>, StoreError>;

    /// The profile's latest investigation.
    fn last_investigation(
        &mut self,
        profile: &Profile,
    ) -> Result<Option<Investigation>, StoreError>;

    /// Claims investigation number `index` for the window and its events; `None` when another
    /// process claimed that number first.
    fn begin_investigation(
        &mut self,
        profile: &Profile,
        index: i64,
        after: i64,
        until: i64,
        events: &[i64],
        last_event: i64,
    ) -> Result<Option<i64>, StoreError>;

    /// Records the analysis of investigation `id`: the malicious anomalies' ids.
    fn complete_investigation(
        &mut self,
        profile: &Profile,
        id: i64,
        malicious: &[i64],
    ) -> Result<(), StoreError>;

    /// What the store holds of one actor.
    fn actor(&mut self, profile: &Profile, name: &str) -> Result<Option<ActorView>, StoreError>;

    /// How many rows of each kind the profile has.
    fn counts(&mut self, profile: &Profile) -> Result<Counts, StoreError>;
}
