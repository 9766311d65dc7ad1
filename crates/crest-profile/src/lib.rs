//! Behavioural profiles per actor: ScryWarden's model, exactly, and crest's improvements.
//!
//! A [`Profile`](config::Profile) says which messages it looks at, which field names the actor
//! (a user, a host, a service account) and which features to learn. For each actor and feature
//! the [`ModelState`](model::ModelState) counts how often each value occurs; a reporter turns a
//! new value and that history into a score in [0, 1]:
//!
//! - `mandatory` and `optional` are ScryWarden's (COMPA's) rules, with its batch semantics to
//!   the last digit under `scoring = "scrywarden"` ([`scrywarden`]);
//! - `numeric`, `hour`, `weekday` and `rarity` are crest's: a number against the actor's robust
//!   range, a time against its daily or weekly habit, a value's novelty scaled by its rarity
//!   across all actors.
//!
//! Messages with an anomalous feature become events; an [`Analyzer`](analyzer::Analyzer) later
//! decides which events of a time window are malicious. Nothing here does I/O: stores keep the
//! state, and the CLI moves messages and findings.
//!
//! ```
//! use crest_profile::config::{FeatureSpec, Profile, ProfileSpec};
//! use crest_profile::model::{Message, ModelState};
//! use serde_json::json;
//!
//! let spec = ProfileSpec {
//!     actor: "person".into(),
//!     features: vec![FeatureSpec { field: Some("greeting".into()), ..Default::default() }],
//!     ..Default::default()
//! };
//! let profile = Profile::build("example", &spec).unwrap();
//! let mut state = ModelState::new(&profile);
//! let msg = |g: &str| Message::new(0, json!({"person": "George", "greeting": g}));
//! let out = state.score_batch(&profile, &[msg("hello"), msg("hello"), msg("howdy")]);
//! // The first "hello" is new (1.0); the second is usual; "howdy" is new again.
//! let scores: Vec<f64> = out.events.iter().map(|e| e.anomalies[0].score).collect();
//! assert_eq!(scores, [1.0, 1.0]);
//! ```

pub mod analyzer;
pub mod config;
pub mod extract;
pub mod intern;
pub mod model;
pub mod scrywarden;
pub mod value;
