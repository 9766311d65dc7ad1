//! Any pipeline, as the service drives it: events in, findings out, state to checkpoint.

use serde::Serialize;
use serde_json::Value;

use crate::config::PipelineConfig;
use crate::finding::Finding;
use crate::peaks::{PeaksPipeline, PeaksState};
use crate::series::{Counters, Point, SeriesPipeline, SeriesState};

/// A pipeline of any detector.
#[derive(Clone, Debug)]
pub enum Pipeline {
    /// `detector = "series"`.
    Series(SeriesPipeline),
    /// `detector = "peaks"`.
    Peaks(PeaksPipeline),
}

/// A pipeline's state by reference, to serialise into a checkpoint.
#[derive(Serialize)]
#[serde(untagged)]
pub enum StateRef<'a> {
    /// A series pipeline's.
    Series(&'a SeriesState),
    /// A peaks pipeline's.
    Peaks(&'a PeaksState),
}

impl Pipeline {
    /// A pipeline named `name`: resumed from a checkpointed state when there is one, else new
    /// (a peaks pipeline's baseline from `global_table`, a reference `global_table.json`'s
    /// text, when given).
    pub fn new(
        name: &str,
        config: &PipelineConfig,
        saved: Option<Value>,
        global_table: Option<&str>,
    ) -> Result<Pipeline, String> {
        Ok(match (config, saved) {
            (PipelineConfig::Series(c), None) => {
                Pipeline::Series(SeriesPipeline::new(name, c.clone()))
            }
            (PipelineConfig::Series(c), Some(state)) => {
                let state: SeriesState =
                    serde_json::from_value(state).map_err(|e| e.to_string())?;
                Pipeline::Series(SeriesPipeline::restore(name, c.clone(), state))
            }
            (PipelineConfig::Peaks(c), None) => Pipeline::Peaks(
                PeaksPipeline::new(name, c.clone(), global_table)
                    .map_err(|e| format!("global_table: {e}"))?,
            ),
            (PipelineConfig::Peaks(c), Some(state)) => {
                let state: PeaksState = serde_json::from_value(state).map_err(|e| e.to_string())?;
                Pipeline::Peaks(PeaksPipeline::restore(name, c.clone(), state))
            }
        })
    }

    /// Takes one event; findings go to `out`.
    pub fn push(&mut self, event: &Value, out: &mut Vec<Finding>) {
        match self {
            Pipeline::Series(p) => p.push(event, out),
            Pipeline::Peaks(p) => p.push(event, out),
        }
    }

    /// Keeps chart points from now on (see each pipeline's `record_points`).
    pub fn record_points(&mut self) {
        match self {
            Pipeline::Series(p) => p.record_points(),
            Pipeline::Peaks(p) => p.record_points(),
        }
    }

    /// The chart points since the last call.
    pub fn take_points(&mut self) -> Vec<Point> {
        match self {
            Pipeline::Series(p) => p.take_points(),
            Pipeline::Peaks(p) => p.take_points(),
        }
    }

    /// What the pipeline did with its events.
    pub fn counters(&self) -> &Counters {
        match self {
            Pipeline::Series(p) => &p.state().counters,
            Pipeline::Peaks(p) => &p.state().counters,
        }
    }

    /// Its series (series) or pairs (peaks).
    pub fn series_count(&self) -> usize {
        match self {
            Pipeline::Series(p) => p.series_count(),
            Pipeline::Peaks(p) => p.pair_count(),
        }
    }

    /// The newest event time seen (µs).
    pub fn newest(&self) -> Option<i64> {
        match self {
            Pipeline::Series(p) => p.newest(),
            Pipeline::Peaks(p) => p.newest(),
        }
    }

    /// The state, to checkpoint.
    pub fn state(&self) -> StateRef<'_> {
        match self {
            Pipeline::Series(p) => StateRef::Series(p.state()),
            Pipeline::Peaks(p) => StateRef::Peaks(p.state()),
        }
    }
}
