//! Named synthetic telemetry, so that "a wave" means the same thing in every test and bench.
//!
//! The records have the shape of the peak analyzer's file telemetry (flat objects with dotted
//! keys and millisecond `utc_timestamp`s), with the 27 fields of a full export so that
//! scanning costs what it costs on real data. Everything is deterministic for a given seed.

pub mod actors;
pub mod flows;
pub mod series;

/// The read-only `../shared` folder beside the checkout, when it is there.
///
/// Under `CREST_TEST_SERVICES=1` (CI) a missing folder fails the calling test; otherwise the
/// test says plainly that it was skipped (a user's fresh clone has no `../shared`).
pub fn shared_dir(test: &str) -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let dir = root.join("shared");
    if dir.join("data").is_dir() {
        return dir.canonicalize().ok();
    }
    assert!(
        !services_required(),
        "{test}: ../shared is missing but CREST_TEST_SERVICES=1 requires it ({})",
        dir.display()
    );
    eprintln!(
        "SKIPPED {test}: ../shared not found beside the checkout (set CREST_TEST_SERVICES=1 to require it)"
    );
    None
}

/// Whether tests that need the services and `../shared` must run (set by `.ci/run`).
pub fn services_required() -> bool {
    std::env::var("CREST_TEST_SERVICES").is_ok_and(|v| v == "1")
}

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// 2020-11-01 00:00:00 UTC, in milliseconds.
pub const NOV_1_2020_MS: i64 = 1_604_188_800_000;

const SEVERITIES: [(&str, u32); 3] = [("benign", 60), ("malicious", 30), ("suspicious", 10)];
const FILE_TYPES: [(&str, u32); 8] = [
    ("PeExeFile", 30),
    ("PdfDocFile", 15),
    ("ExcelMsDocFile", 10),
    ("ZipArchiveFile", 8),
    ("GzipArchiveFile", 6),
    ("JavascriptScriptFile", 6),
    ("WordMsDocxFile", 5),
    ("RtfDocFile", 4),
];
const ORIGINS: [(&str, u32); 3] = [("API", 80), ("EMAIL", 12), ("HTTP", 8)];

/// A small, fast, deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick(&mut self, table: &[(&'static str, u32)]) -> &'static str {
        let total: u32 = table.iter().map(|t| t.1).sum();
        let mut r = self.below(total as u64) as u32;
        for (v, w) in table {
            if r < *w {
                return v;
            }
            r -= w;
        }
        table[0].0
    }
}

/// A 40-hex-digit pseudo hash of a number.
fn hash40(x: u64) -> String {
    let mut r = Rng::new(x);
    format!("{:016x}{:016x}{:08x}", r.next_u64(), r.next_u64(), r.next_u64() as u32)
}

/// One full record (27 fields) as compact JSON.
pub fn file_record(
    ts_ms: i64,
    severity: &str,
    file_type: &str,
    sample: u64,
    origin: &str,
    user: u64,
) -> String {
    let sha1 = hash40(sample);
    format!(
        concat!(
            r#"{{"analysis.label":"not_run","customer.channel":null,"customer.installation_type":null,"#,
            r#""customer.region":"AMER","customer.sector":"IT","customer.type":null,"file.llfile_type":"{ft}","#,
            r#""file.magic":null,"file.md5":"{md5}","file.mime_type":"application/octet-stream","file.name":null,"#,
            r#""file.sha1":"{sha1}","file.sha256":"{sha256}","file.size":0,"source.access_key_id":0,"#,
            r#""source.data_center":null,"source.geo.country_iso_code":null,"source.geo.location":"0.00,0.00","#,
            r#""source.origin":"{origin}","source.submitter_ip":"0.0.0.0","source.user_id":{user},"submission_id":0,"#,
            r#""task.portal_url":null,"task.score":0,"task.severity":"{sev}","task.uuid":"{uuid}","utc_timestamp":{ts}}}"#
        ),
        ft = file_type,
        md5 = &hash40(sample ^ 1)[..32],
        sha1 = sha1,
        sha256 = hash40(sample ^ 2) + &hash40(sample ^ 3)[..24],
        origin = origin,
        user = user,
        sev = severity,
        uuid = &hash40(sample ^ 4)[..32],
        ts = ts_ms,
    )
}

/// `records` background records over `days` days from 2020-11-01, plus a wave of `wave`
/// malicious `ZipArchiveFile` submissions of a few samples on the fourth day, as one JSON
/// array with a record per line (the layout of the peak analyzer's synthetic files).
pub fn sandbox_telemetry(records: usize, days: i64, wave: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let pool = (records as u64 / 20).max(50);
    let mut out = String::with_capacity((records + wave) * 850 + 4);
    out.push_str("[\n");
    let mut first = true;
    let mut push = |out: &mut String, rec: String| {
        if !first {
            out.push_str(",\n");
        }
        first = false;
        out.push_str(&rec);
    };
    for i in 0..records {
        let day = (i as i64 * days) / records.max(1) as i64;
        let ts = NOV_1_2020_MS + day * DAY_MS + rng.below(86_400) as i64 * 1000;
        let sev = rng.pick(&SEVERITIES);
        let ft = rng.pick(&FILE_TYPES);
        // Skewed sample choice: a few samples are submitted often.
        let sample = (pool as f64 * rng.unit().powi(3)) as u64;
        let sample = sample ^ ((sev.len() as u64) << 40) ^ ((ft.len() as u64) << 48);
        let origin = rng.pick(&ORIGINS);
        let rec = file_record(ts, sev, ft, sample, origin, rng.below(300));
        push(&mut out, rec);
    }
    for _ in 0..wave {
        let ts = NOV_1_2020_MS + 3 * DAY_MS + (36_000 + rng.below(21_600) as i64) * 1000;
        let sample = 1 << 60 | (8.0 * rng.unit().powi(3)) as u64;
        let rec = file_record(ts, "malicious", "ZipArchiveFile", sample, "API", rng.below(20));
        push(&mut out, rec);
    }
    out.push_str("\n]\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_well_formed() {
        let a = sandbox_telemetry(200, 7, 50, 1);
        assert_eq!(a, sandbox_telemetry(200, 7, 50, 1));
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text.lines().count(), 2 + 250);
        assert!(text.contains("\"task.severity\":\"malicious\""));
    }
}
