//! The metric store of crest: named metrics in multi-resolution time buckets, after kairos.
//!
//! A store holds many metric **names** that share one [`Schema`]: a [`MetricType`] and a set
//! of [`IntervalSpec`]s. An interval has a **step** (bucket width, epoch-aligned:
//! `floor(ts / step)`), an optional retention in buckets (**steps**) and an optional finer
//! **resolution** (sub-buckets inside each bucket, condensed on read). Every write fans out to
//! all intervals; a write `steps` or more buckets older than the bucket of the caller's clock
//! is dropped and counted ([`WriteReport`], [`MetricStore::drop_counts`]).
//!
//! Buckets accumulate instead of keeping raw values ([`Bucket`]): counts add, gauges keep the
//! last value written, histograms count occurrences per member, sets keep distinct members,
//! and [`Moments`] keep count, sum, sum of squares, min and max for mean and variance.
//!
//! Two backends implement [`MetricStore`]:
//!
//! - [`EmbeddedStore`], the default: in memory, saved atomically to one snapshot file in a
//!   data directory ([`EmbeddedStore::open`], [`EmbeddedStore::checkpoint`]); no server.
//! - [`RedisStore`]: kairos's Redis key layout (`prefix:name:interval:bucket`, fine
//!   resolutions as sub-keys), with index keys so that nothing ever runs `KEYS`.
//!
//! Neither reads a clock: every write takes `now`, the caller's time in Unix seconds.
//!
//! ```
//! use crest_store::{EmbeddedStore, IntervalSpec, MetricStore, MetricType, Observation, Schema};
//!
//! let intervals = vec![
//!     IntervalSpec::parse("minute", "1m", Some(60), None).unwrap(),
//!     IntervalSpec::parse("day", "daily", Some(30), Some("1h")).unwrap(),
//! ];
//! let schema = Schema::new(MetricType::Count, intervals).unwrap();
//! let mut store = EmbeddedStore::in_memory(schema);
//! let now = 1_604_491_200; // 2020-11-04 12:00:00 UTC
//! let logins = [
//!     Observation::new("logins.failed", now + 5, 1.0),
//!     Observation::new("logins.failed", now + 70, 2.0),
//!     Observation::new("logins.failed", now - 7_200, 1.0), // two hours old: too old a minute
//! ];
//! let report = store.insert_batch(&logins, now + 70).unwrap();
//! assert_eq!(report.dropped, [1, 0]);
//! let minutes = store.series("logins.failed", "minute", now, now + 3_599).unwrap();
//! assert_eq!(minutes.len(), 2);
//! let day = store.series("logins.failed", "day", now, now).unwrap();
//! assert_eq!(day[0].value, crest_store::Bucket::Count(4.0));
//! ```

mod bucket;
mod embedded;
mod error;
mod interval;
mod redis_store;
mod schema;
mod snapshot;
mod store;

pub use bucket::{Bucket, Moments, Observation, Value, member_text};
pub use embedded::{EmbeddedStore, SNAPSHOT_FILE};
pub use error::{SpecError, StoreError};
pub use interval::{IntervalSpec, MAX_ABS_TIMESTAMP, Step};
pub use redis_store::RedisStore;
pub use schema::{MetricType, Schema, check_name};
pub use store::{DropCount, Extent, FinePoint, MetricStore, Point, WriteReport};
