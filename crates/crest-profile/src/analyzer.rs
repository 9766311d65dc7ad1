//! Deciding which stored anomalies of a window are malicious.
//!
//! [`Analyzer::Decay`] is ScryWarden's `ExponentialDecayAnalyzer`, exactly: per actor, the mean
//! anomaly score minus a penalty that shrinks as the actor piles up anomalies,
//! `mean − weight·(1 − decay)^(k − 1)`, and every anomaly of an actor at or above the threshold
//! is malicious (all or none). [`Analyzer::Evidence`] is crest's: features of one event
//! corroborate each other (an event scores the sum of its anomalies over `corroboration`,
//! capped at 1); only events scoring at least `event_threshold` count, the same decay penalty
//! applies to their number rather than to the actor's rows, and only they are reported.

use serde::{Deserialize, Serialize};

use crate::model::Evidence;

/// One stored anomaly, as the collector hands it to the analyzer (ScryWarden's frame plus the
/// names and evidence crest keeps).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyRow {
    /// The event's id.
    pub event_id: i64,
    /// The message's id.
    pub message_id: i64,
    /// The actor's id.
    pub actor_id: i64,
    /// The actor's name.
    pub actor: String,
    /// The event time, microseconds since the epoch.
    pub time: i64,
    /// The anomaly's id.
    pub anomaly_id: i64,
    /// The field's (feature's) id.
    pub field_id: i64,
    /// The field's name.
    pub field: String,
    /// The value's canonical text.
    pub value: String,
    /// The anomaly score.
    pub score: f64,
    /// Why it scored so.
    pub evidence: Evidence,
}

/// An analyzer and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Analyzer {
    /// ScryWarden's exponential-decay analyzer.
    Decay {
        /// The penalty of a lone anomaly (default 0.2).
        #[serde(default = "default_weight")]
        weight: f64,
        /// How fast the penalty shrinks per extra anomaly (default 0.1).
        #[serde(default = "default_decay")]
        decay: f64,
        /// The weighted mean an actor needs (default 0.5).
        #[serde(default = "default_threshold")]
        threshold: f64,
    },
    /// crest's: events corroborated across features, reported one by one.
    Evidence {
        /// The penalty of a lone event (default 0.2).
        #[serde(default = "default_weight")]
        weight: f64,
        /// How fast the penalty shrinks per extra event (default 0.1).
        #[serde(default = "default_decay")]
        decay: f64,
        /// The weighted mean event score an actor needs (default 0.5).
        #[serde(default = "default_threshold")]
        threshold: f64,
        /// How many fully anomalous features make an event certain (default 1.5).
        #[serde(default = "default_corroboration")]
        corroboration: f64,
        /// The score an event needs to be reported (default 0.5).
        #[serde(default = "default_threshold")]
        event_threshold: f64,
    },
}

fn default_weight() -> f64 {
    0.2
}
fn default_decay() -> f64 {
    0.1
}
fn default_threshold() -> f64 {
    0.5
}
fn default_corroboration() -> f64 {
    1.5
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer::scrywarden()
    }
}

/// An event's id, its actor's id and the positions of its anomaly rows.
type EventRows = (i64, i64, Vec<usize>);

/// One flagged event with its score and anomalies (indices into the analyzed rows).
#[derive(Clone, Debug, PartialEq)]
pub struct Flagged {
    /// The event's id.
    pub event_id: i64,
    /// The event's score (crest's), or the actor's weighted mean (ScryWarden's).
    pub score: f64,
    /// The rows of its anomalies.
    pub rows: Vec<usize>,
}

impl Analyzer {
    /// ScryWarden's defaults: weight 0.2, decay 0.1, threshold 0.5.
    pub fn scrywarden() -> Analyzer {
        Analyzer::Decay { weight: 0.2, decay: 0.1, threshold: 0.5 }
    }

    /// crest's defaults.
    pub fn evidence() -> Analyzer {
        Analyzer::Evidence {
            weight: 0.2,
            decay: 0.1,
            threshold: 0.5,
            corroboration: 1.5,
            event_threshold: 0.5,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        let (w, d, t) = match *self {
            Analyzer::Decay { weight, decay, threshold } => (weight, decay, threshold),
            Analyzer::Evidence { weight, decay, threshold, corroboration, event_threshold } => {
                if !(corroboration.is_finite() && corroboration >= 1.0) {
                    return Err(format!("corroboration must be ≥ 1, got {corroboration}"));
                }
                if !event_threshold.is_finite() {
                    return Err(format!("event_threshold must be a number, got {event_threshold}"));
                }
                (weight, decay, threshold)
            }
        };
        if !(w.is_finite() && d.is_finite() && (0.0..=1.0).contains(&d) && t.is_finite()) {
            return Err(format!(
                "weight, decay (0 to 1) and threshold must be numbers, got {w}, {d}, {t}"
            ));
        }
        Ok(())
    }

    /// The flagged events of a window's anomalies, in event order.
    pub fn analyze(&self, rows: &[AnomalyRow]) -> Vec<Flagged> {
        // Rows grouped by event, in (event id, row) order; events by actor.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| (rows[i].event_id, rows[i].anomaly_id));
        let mut events: Vec<EventRows> = Vec::new();
        for i in order {
            match events.last_mut() {
                Some(e) if e.0 == rows[i].event_id => e.2.push(i),
                _ => events.push((rows[i].event_id, rows[i].actor_id, vec![i])),
            }
        }
        let mut actors: Vec<i64> = events.iter().map(|e| e.1).collect();
        actors.sort_unstable();
        actors.dedup();
        let mut flagged = Vec::new();
        for actor in actors {
            let mine: Vec<&EventRows> = events.iter().filter(|e| e.1 == actor).collect();
            match *self {
                Analyzer::Decay { weight, decay, threshold } => {
                    // pandas' group mean: a sum in row order over the count.
                    let (mut sum, mut k) = (0.0, 0.0);
                    for e in &mine {
                        for &i in &e.2 {
                            sum += rows[i].score;
                            k += 1.0;
                        }
                    }
                    let weighted = sum / k - weight * (1.0 - decay).powf(k - 1.0);
                    if weighted >= threshold {
                        flagged.extend(mine.iter().map(|e| Flagged {
                            event_id: e.0,
                            score: weighted,
                            rows: e.2.clone(),
                        }));
                    }
                }
                Analyzer::Evidence { weight, decay, threshold, corroboration, event_threshold } => {
                    // Only the actor's strong events count: a hundred faint anomalies of
                    // routine work must neither hide one strong event nor add up to one.
                    let candidates: Vec<(&EventRows, f64)> = mine
                        .iter()
                        .map(|e| {
                            (
                                *e,
                                (e.2.iter().map(|&i| rows[i].score).sum::<f64>() / corroboration)
                                    .min(1.0),
                            )
                        })
                        .filter(|(_, s)| *s >= event_threshold)
                        .collect();
                    if candidates.is_empty() {
                        continue;
                    }
                    let k = candidates.len() as f64;
                    let mean = candidates.iter().map(|c| c.1).sum::<f64>() / k;
                    if mean - weight * (1.0 - decay).powf(k - 1.0) >= threshold {
                        flagged.extend(candidates.into_iter().map(|(e, s)| Flagged {
                            event_id: e.0,
                            score: s,
                            rows: e.2.clone(),
                        }));
                    }
                }
            }
        }
        flagged.sort_by_key(|f| f.event_id);
        flagged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(event_id: i64, actor_id: i64, score: f64) -> AnomalyRow {
        AnomalyRow {
            event_id,
            message_id: event_id,
            actor_id,
            actor: format!("a{actor_id}"),
            time: 0,
            anomaly_id: event_id * 10,
            field_id: 1,
            field: "f".into(),
            value: "\"v\"".into(),
            score,
            evidence: Evidence::default(),
        }
    }

    #[test]
    fn scrywarden_decay_examples() {
        let a = Analyzer::scrywarden();
        // The heartbeat: three actors, one anomaly of 1.0 each → 0.8 ≥ 0.5, all malicious.
        let rows = vec![row(1, 2, 1.0), row(2, 3, 1.0), row(3, 1, 1.0)];
        let f = a.analyze(&rows);
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|f| (f.score - 0.8).abs() < 1e-15));
        // One anomaly of 0.69 → 0.49: not malicious. Of 0.7: 0.7 − 0.2 is 0.49999999999999994
        // in binary floating point, as in pandas, so not malicious either; 0.71 is.
        assert!(a.analyze(&[row(1, 1, 0.69)]).is_empty());
        assert!(a.analyze(&[row(1, 1, 0.7)]).is_empty());
        assert_eq!(a.analyze(&[row(1, 1, 0.71)]).len(), 1);
        // Ten anomalies with mean 0.58 → 0.58 − 0.2·0.9⁹ = 0.4025: not; mean 0.58 needs
        // 0.5 + 0.2·0.9^(k−1) ≤ 0.58, k ≥ 10 → 0.5775 at k = 10.
        let ten: Vec<AnomalyRow> = (1..=10).map(|i| row(i, 1, 0.58)).collect();
        assert_eq!(a.analyze(&ten).len(), 10);
        let nine: Vec<AnomalyRow> = (1..=9).map(|i| row(i, 1, 0.58)).collect();
        assert!(a.analyze(&nine).is_empty());
        // All or none: a weak anomaly rides along with strong ones.
        let mixed = vec![row(1, 1, 1.0), row(2, 1, 1.0), row(3, 1, 0.1)];
        assert_eq!(a.analyze(&mixed).len(), 3);
    }

    #[test]
    fn evidence_flags_events_not_actors() {
        let a = Analyzer::evidence();
        // Two features of one event corroborate: 1.0 + 1.0 over 1.5, capped at 1 → 0.8 ≥ 0.5.
        let mut two = vec![row(1, 1, 1.0), row(1, 1, 1.0)];
        two[1].anomaly_id += 1;
        assert_eq!(a.analyze(&two).len(), 1);
        // A lone single-feature novelty (1/1.5 − 0.2 ≈ 0.47) is not enough.
        assert!(a.analyze(&[row(1, 1, 1.0)]).is_empty());
        // With a strong event, the weak event of the same actor is not reported.
        let mut rows = two.clone();
        rows.push(row(2, 1, 1.0));
        rows.push(row(2, 1, 1.0));
        rows[3].anomaly_id += 1;
        rows.push(row(3, 1, 0.2));
        let f = a.analyze(&rows);
        assert_eq!(f.iter().map(|f| f.event_id).collect::<Vec<_>>(), vec![1, 2]);
    }
}
