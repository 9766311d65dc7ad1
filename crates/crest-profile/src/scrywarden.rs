//! ScryWarden 0.1.1's `Mandatory` and `Optional` reporters over one batch, to the last digit.
//!
//! ScryWarden scores a whole batch at once against the feature counts stored before it, and
//! counts earlier messages of the same batch by rules of its own (see `docs/profiles.md` §3):
//! each row sees the stored count of its value plus the earlier rows with that value, the
//! actor's stored total plus all its earlier rows, and (Mandatory) the stored number of
//! distinct values plus the earlier rows that were unseen at their time. "Earlier" follows the
//! pandas sorts the reference does: by time, then by value (Mandatory's totals), then by
//! position in the batch. The arithmetic is done in the same order, in `f64`, so equality
//! tests such as `count < mean` fall the same way.

use std::cmp::Ordering;

/// One value row of a batch for one field: whose, when, and the canonical value text.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// The actor, as a dense index.
    pub actor: u32,
    /// The message time, in microseconds.
    pub time: i64,
    /// The value's canonical text (`""` for null).
    pub value: &'a str,
}

/// One row's score and the counts behind it (for the evidence).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scored {
    /// The score, times the weight.
    pub score: f64,
    /// How often the value had been seen, as this row saw it.
    pub count: f64,
    /// How many values the actor had reported, as this row saw it.
    pub total: f64,
}

/// What the store held for one actor and field before the batch.
pub trait Stored {
    /// The stored count of `value` for `actor` (0 when never stored).
    fn count(&self, actor: u32, value: &str) -> f64;
    /// The number of distinct stored values of `actor` (feature rows, null included).
    fn groups(&self, actor: u32) -> f64;
    /// The sum of the stored counts of `actor`.
    fn total(&self, actor: u32) -> f64;
}

/// Positions of the rows in the order `key` gives, ties by position (a stable sort).
fn order_by(rows: &[Row<'_>], key: impl Fn(&Row<'_>, &Row<'_>) -> Ordering) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..rows.len()).collect();
    idx.sort_by(|&a, &b| key(&rows[a], &rows[b]));
    idx
}

/// For each row, the number of rows before it (in `order`) that share `same`.
fn earlier(
    rows: &[Row<'_>],
    order: &[usize],
    same: impl Fn(&Row<'_>, &Row<'_>) -> bool,
) -> Vec<f64> {
    let mut out = vec![0.0; rows.len()];
    let mut run_start = 0;
    for (k, &i) in order.iter().enumerate() {
        if k == 0 || !same(&rows[order[k - 1]], &rows[i]) {
            run_start = k;
        }
        out[i] = (k - run_start) as f64;
    }
    out
}

/// Mandatory's scores for a batch of one field, in the rows' order, times `weight`.
pub fn mandatory(rows: &[Row<'_>], stored: &impl Stored, weight: f64) -> Vec<Scored> {
    // In-batch counts of a value: rows of the same actor and value, by time then position.
    let by_value = order_by(rows, |a, b| {
        a.actor.cmp(&b.actor).then(a.value.cmp(b.value)).then(a.time.cmp(&b.time))
    });
    let same_value = earlier(rows, &by_value, |a, b| a.actor == b.actor && a.value == b.value);
    // In-batch totals: rows of the same actor by time, ties in the order the first sort left
    // them (by value), as pandas' stable sort does.
    let mut by_time = by_value.clone();
    by_time
        .sort_by(|&a, &b| rows[a].actor.cmp(&rows[b].actor).then(rows[a].time.cmp(&rows[b].time)));
    let same_actor = earlier(rows, &by_time, |a, b| a.actor == b.actor);

    let mut scores = vec![Scored::default(); rows.len()];
    let mut section = None;
    let mut unseen_before = 0.0;
    for &i in &by_time {
        let r = &rows[i];
        if section != Some(r.actor) {
            section = Some(r.actor);
            unseen_before = 0.0;
        }
        let groups0 = stored.groups(r.actor);
        let total0 = stored.total(r.actor);
        let mean0 = if groups0 > 0.0 { total0 / groups0 } else { 0.0 };
        let count0 = stored.count(r.actor, r.value);
        let previous_mean = if groups0 > 1.0 {
            if count0 != 0.0 { (mean0 * groups0 - count0) / (groups0 - 1.0) } else { mean0 }
        } else {
            0.0
        };
        let count = count0 + same_value[i];
        let total = total0 + same_actor[i];
        let groups = groups0 + unseen_before;
        if count == 0.0 {
            unseen_before += 1.0;
        }
        let mean =
            if groups > 0.0 { previous_mean + (count - previous_mean) / groups } else { mean0 };
        let score = if r.value.is_empty() || count == 0.0 {
            1.0
        } else if count < mean {
            1.0 - count / total
        } else {
            0.0
        };
        scores[i] = Scored { score: score * weight, count, total };
    }
    scores
}

/// Optional's scores for a batch of one field, in the rows' order, times `weight`.
pub fn optional(rows: &[Row<'_>], stored: &impl Stored, weight: f64) -> Vec<Scored> {
    // Totals and nulls run in time order, ties by position.
    let by_time = order_by(rows, |a, b| a.actor.cmp(&b.actor).then(a.time.cmp(&b.time)));
    let same_actor = earlier(rows, &by_time, |a, b| a.actor == b.actor);
    let mut nulls_before = vec![0.0; rows.len()];
    let mut section = None;
    let mut counter = 0.0;
    for &i in &by_time {
        if section != Some(rows[i].actor) {
            section = Some(rows[i].actor);
            counter = 0.0;
        }
        nulls_before[i] = counter;
        if rows[i].value.is_empty() {
            counter += 1.0;
        }
    }
    // Counts of a value: the stable sort by (actor, value, time) over the time order.
    let mut by_value = by_time.clone();
    by_value.sort_by(|&a, &b| {
        let (x, y) = (&rows[a], &rows[b]);
        x.actor.cmp(&y.actor).then(x.value.cmp(y.value)).then(x.time.cmp(&y.time))
    });
    let same_value = earlier(rows, &by_value, |a, b| a.actor == b.actor && a.value == b.value);

    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let total = stored.total(r.actor) + same_actor[i];
            let nulls = stored.count(r.actor, "") + nulls_before[i];
            let count = stored.count(r.actor, r.value) + same_value[i];
            let score = if r.value.is_empty() || count != 0.0 {
                0.0
            } else if total == 0.0 {
                1.0
            } else {
                nulls / total
            };
            Scored { score: score * weight, count, total }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// One actor's stored histogram.
    struct Hist(HashMap<&'static str, f64>);

    impl Stored for Hist {
        fn count(&self, _: u32, value: &str) -> f64 {
            self.0.get(value).copied().unwrap_or(0.0)
        }
        fn groups(&self, _: u32) -> f64 {
            self.0.len() as f64
        }
        fn total(&self, _: u32) -> f64 {
            self.0.values().sum()
        }
    }

    fn hist(pairs: &[(&'static str, f64)]) -> Hist {
        Hist(pairs.iter().copied().collect())
    }

    fn batch<'a>(values: &[&'a str]) -> Vec<Row<'a>> {
        values.iter().enumerate().map(|(i, v)| Row { actor: 0, time: i as i64, value: v }).collect()
    }

    fn round4(v: Vec<Scored>) -> Vec<f64> {
        v.into_iter().map(|x| (x.score * 1e4).round() / 1e4).collect()
    }

    fn scores(v: Vec<Scored>) -> Vec<f64> {
        v.into_iter().map(|x| x.score).collect()
    }

    /// The reference's own probe (`shared/data/profiles/reporter_probe.out`), case by case.
    #[test]
    fn reporter_probe_cases() {
        // (stored history, batch, Mandatory's scores, Optional's scores; NaN past the batch)
        type Case<'a> = (&'a [(&'static str, f64)], &'a [&'a str], [f64; 3], [f64; 3]);
        let cases: [Case<'_>; 5] = [
            (&[], &["\"hello\"", "\"hello\""], [1.0, 0.0, f64::NAN], [1.0, 0.0, f64::NAN]),
            (&[("\"hello\"", 2.0)], &["\"hello\""; 3], [0.0; 3], [0.0; 3]),
            (
                &[("\"a\"", 10.0), ("\"b\"", 10.0)],
                &["\"c\"", "\"c\"", "\"a\""],
                [1.0, 0.9524, 0.0],
                [0.0, 0.0, 0.0],
            ),
            (
                &[("\"a\"", 8.0), ("\"b\"", 2.0)],
                &["\"b\""],
                [0.8, f64::NAN, f64::NAN],
                [0.0, f64::NAN, f64::NAN],
            ),
            (
                &[("\"a\"", 8.0), ("\"b\"", 2.0), ("", 2.0)],
                &["", "\"z\""],
                [1.0, 1.0, f64::NAN],
                [0.0, 0.2308, f64::NAN],
            ),
        ];
        for (stored, values, want_m, want_o) in cases {
            let h = hist(stored);
            let rows = batch(values);
            let n = rows.len();
            assert_eq!(
                round4(mandatory(&rows, &h, 1.0)),
                want_m[..n].to_vec(),
                "{stored:?} {values:?}"
            );
            assert_eq!(
                round4(optional(&rows, &h, 1.0)),
                want_o[..n].to_vec(),
                "{stored:?} {values:?}"
            );
        }
    }

    #[test]
    fn exact_digits() {
        // 1 − 1/21 and 3/13 as f64, not merely rounded alike.
        let h = hist(&[("\"a\"", 10.0), ("\"b\"", 10.0)]);
        assert_eq!(mandatory(&batch(&["\"c\"", "\"c\""]), &h, 1.0)[1].score, 1.0 - 1.0 / 21.0);
        let h = hist(&[("\"a\"", 8.0), ("\"b\"", 2.0), ("", 2.0)]);
        assert_eq!(optional(&batch(&["", "\"z\""]), &h, 1.0)[1].score, 3.0 / 13.0);
        // Weights multiply.
        let h = hist(&[("\"a\"", 8.0), ("\"b\"", 2.0)]);
        assert_eq!(mandatory(&batch(&["\"b\""]), &h, 0.5)[0].score, 0.8 * 0.5);
    }

    #[test]
    fn unseen_rows_not_values_advance_groups() {
        // Quirk 10: two rows of one new value count as two unseen rows only if both were
        // unseen at their time; the second is seen (c = 1), so G grows by one.
        // Stored a=4, b=4; batch x, y, x: rows x(c=0) y(c=0) x(c=1, G=2+2=4).
        // previous_mean = 4 (x not stored), MN = 4 + (1 − 4)/4 = 3.25 → 1 − 1/10.
        let h = hist(&[("\"a\"", 4.0), ("\"b\"", 4.0)]);
        let s = scores(mandatory(&batch(&["\"x\"", "\"y\"", "\"x\""]), &h, 1.0));
        assert_eq!(s, vec![1.0, 1.0, 1.0 - 1.0 / 10.0]);
    }

    #[test]
    fn ties_in_time_order_by_value_for_totals() {
        // Same timestamp: Mandatory's totals take the rows in value order, so row "b" (first
        // in the batch) sees row "a" as earlier. Stored a=5, b=1, c=6 (mean 4).
        // "a": previous mean (12 − 5)/2 = 3.5, MN = 3.5 + (5 − 3.5)/3 = 4, 5 ≥ 4 → 0.
        // "b": previous mean 5.5, total 12 + 1, MN = 5.5 + (1 − 5.5)/3 = 4 → 1 − 1/13.
        let h = hist(&[("\"a\"", 5.0), ("\"b\"", 1.0), ("\"c\"", 6.0)]);
        let rows = vec![
            Row { actor: 0, time: 7, value: "\"b\"" },
            Row { actor: 0, time: 7, value: "\"a\"" },
        ];
        assert_eq!(scores(mandatory(&rows, &h, 1.0)), vec![1.0 - 1.0 / 13.0, 0.0]);
    }

    #[test]
    fn actors_are_independent() {
        let h = hist(&[]);
        let rows = vec![
            Row { actor: 1, time: 0, value: "\"x\"" },
            Row { actor: 2, time: 0, value: "\"x\"" },
            Row { actor: 1, time: 1, value: "\"x\"" },
        ];
        assert_eq!(scores(mandatory(&rows, &h, 1.0)), vec![1.0, 1.0, 0.0]);
        assert_eq!(scores(optional(&rows, &h, 1.0)), vec![1.0, 1.0, 0.0]);
    }
}
