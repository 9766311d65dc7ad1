//! `crest profile`'s config file: crest's TOML, or ScryWarden's YAML layout for migration.
//!
//! Both read into one [`Settings`]: the store, the pipeline, the sources, the profiles and the
//! shippers. Unknown keys are errors that name the key (and line, for TOML).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use crest_profile::analyzer::Analyzer;
use crest_profile::config::{
    CollectorSpec, FeatureSpec, Profile, ProfileSpec, ReporterKind, Scoring,
};
use serde::Deserialize;

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// Where the profiles are kept.
    #[serde(default)]
    pub(crate) store: StoreSettings,
    /// How messages are batched.
    #[serde(default)]
    pub(crate) pipeline: PipelineSettings,
    /// Where messages come from (files given on the command line are added).
    #[serde(default, rename = "source")]
    pub(crate) sources: Vec<SourceSettings>,
    /// The profiles, by name.
    #[serde(default, rename = "profile")]
    pub(crate) profiles: BTreeMap<String, ProfileSpec>,
    /// Where malicious anomalies go.
    #[serde(default, rename = "shipper")]
    pub(crate) shippers: Vec<ShipperSettings>,
}

/// The store's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreSettings {
    /// `embedded` (default) or `postgres`.
    #[serde(default)]
    pub(crate) kind: StoreKind,
    /// embedded: the directory (default: crest's data directory + `/profiles`).
    #[serde(default)]
    pub(crate) dir: Option<PathBuf>,
    /// postgres: the connection string (`host=127.0.0.1 user=postgres dbname=test` or a URL).
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// postgres: the schema holding crest's tables (default `crest`).
    #[serde(default)]
    pub(crate) schema: Option<String>,
}

/// The store backends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StoreKind {
    /// Files in crest's data directory; no server.
    #[default]
    Embedded,
    /// PostgreSQL, shared by several collectors.
    Postgres,
}

/// ScryWarden's pipeline settings, honoured.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PipelineSettings {
    /// Messages per batch at most (ScryWarden's `queue_size`, default 500).
    #[serde(default = "default_queue_size", alias = "limit")]
    pub(crate) queue_size: usize,
    /// A batch is processed this long after its first message at the latest (default "10s").
    #[serde(default = "default_timeout", deserialize_with = "duration_text")]
    pub(crate) timeout: String,
}

fn default_queue_size() -> usize {
    500
}
fn default_timeout() -> String {
    "10s".into()
}

/// Accepts a duration as text ("10s") or a number of seconds (ScryWarden writes `timeout: 10`).
fn duration_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum T {
        S(String),
        N(f64),
    }
    Ok(match T::deserialize(d)? {
        T::S(s) => s,
        T::N(n) => format!("{n}s"),
    })
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings { queue_size: default_queue_size(), timeout: default_timeout() }
    }
}

/// One source of messages.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum SourceSettings {
    /// Files: JSON Lines, a JSON array, or CSV with a header (by the `.csv` name); plain,
    /// gzip or zstd. Paths are relative to the config file.
    File {
        /// Paths or glob patterns.
        path: Vec<String>,
    },
    /// Standard input (JSON Lines or a JSON array).
    Stdin,
    /// ScryWarden's heartbeat: every `interval`, `count` copies of each message.
    Heartbeat {
        /// The pause between ticks (default "5s").
        #[serde(default = "default_heartbeat_interval")]
        interval: String,
        /// Copies per tick (default 1).
        #[serde(default = "one")]
        count: usize,
        /// George/hello, Ben/howdy and Susan/salutations (default), or George alone.
        #[serde(default = "yes")]
        mixed: bool,
        /// Stop after this many ticks (default: run until stopped).
        #[serde(default)]
        ticks: Option<u64>,
        /// Stamp the ticks from this instant on, `interval` apart, without waiting: a
        /// reproducible heartbeat (the pipeline's timeout then runs on the stamps too).
        #[serde(default)]
        start: Option<String>,
    },
}

fn default_heartbeat_interval() -> String {
    "5s".into()
}
fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}

/// One shipper of malicious anomalies.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum ShipperSettings {
    /// ScryWarden's CSV: `event_id,message_id,actor_id,created_at,anomaly_id,field_id,score`,
    /// appended, the header only when the file is new or empty.
    Csv {
        /// The file (default `alerts.csv`, relative to the working directory).
        #[serde(default = "default_alerts")]
        path: PathBuf,
    },
    /// One JSON finding per malicious event, with its evidence, appended.
    Jsonl {
        /// The file.
        path: PathBuf,
    },
    /// A readable table on standard output.
    Terminal,
}

fn default_alerts() -> PathBuf {
    PathBuf::from("alerts.csv")
}

/// Reads a config file: YAML (`.yml`/`.yaml`) in ScryWarden's layout, anything else TOML.
pub(crate) fn load(path: &Path) -> anyhow::Result<Settings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the config", path.display()))?;
    let is_yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"));
    let mut settings = if is_yaml {
        from_scrywarden_yaml(&text).with_context(|| format!("{}", path.display()))?
    } else {
        toml::from_str::<Settings>(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
    };
    // Relative paths in a config are relative to the config file.
    let base = path.parent().unwrap_or(Path::new("."));
    for s in &mut settings.sources {
        if let SourceSettings::File { path: paths } = s {
            for p in paths.iter_mut() {
                if Path::new(p.as_str()).is_relative() {
                    *p = base.join(p.as_str()).to_string_lossy().into_owned();
                }
            }
        }
    }
    if let Some(dir) = &mut settings.store.dir
        && dir.is_relative()
    {
        *dir = base.join(&*dir);
    }
    Ok(settings)
}

impl Settings {
    /// Builds every profile, reporting every problem at once.
    pub(crate) fn profiles(&self) -> anyhow::Result<Vec<Profile>> {
        if self.profiles.is_empty() {
            bail!("the config defines no profile (add a [profile.NAME] table)");
        }
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (name, spec) in &self.profiles {
            match Profile::build(name, spec) {
                Ok(p) => out.push(p),
                Err(es) => errors.extend(es.into_iter().map(|e| e.to_string())),
            }
        }
        if !errors.is_empty() {
            bail!("the config has {} error(s):\n  {}", errors.len(), errors.join("\n  "));
        }
        Ok(out)
    }
}

/// ScryWarden's YAML, read into crest's settings. Its classes are mapped to crest's
/// equivalents; a profile class of one's own (Python code) cannot run here, so such a profile
/// must say in crest's keys (`actor`, `match`, `feature`) what its class did.
fn from_scrywarden_yaml(text: &str) -> anyhow::Result<Settings> {
    use serde_yaml::Value as Y;
    let doc: Y = serde_yaml::from_str(text).context("not valid YAML")?;
    let get = |v: &Y, k: &str| v.get(k).cloned();
    let s = |v: &Y| v.as_str().map(str::to_string);
    let num = |v: &Y| v.as_f64();
    let mut settings = Settings::default();
    if let Some(db) = get(&doc, "database") {
        let part = |k: &str, d: &str| {
            db.get(k)
                .map(|v| match v {
                    Y::String(s) => s.clone(),
                    other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
                })
                .unwrap_or_else(|| d.to_string())
        };
        settings.store = StoreSettings {
            kind: StoreKind::Postgres,
            dir: None,
            url: Some(format!(
                "host={} port={} dbname={} user={} password={}",
                part("host", "localhost"),
                part("port", "5432"),
                part("name", "scrywarden"),
                part("user", "scrywarden"),
                part("password", "scrywarden")
            )),
            schema: None,
        };
    }
    if let Some(p) = get(&doc, "pipeline") {
        if let Some(n) = p.get("queue_size").or_else(|| p.get("limit")).and_then(Y::as_u64) {
            settings.pipeline.queue_size = n as usize;
        }
        if let Some(t) = p.get("timeout").and_then(num) {
            settings.pipeline.timeout = format!("{t}s");
        }
    }
    for (name, t) in
        get(&doc, "transports").and_then(|m| m.as_mapping().cloned()).unwrap_or_default()
    {
        let class = t.get("class").and_then(s).unwrap_or_default();
        // Options at the transport's level or, as the README shows, under `config:`.
        let opt = |k: &str| t.get(k).or_else(|| t.get("config").and_then(|c| c.get(k))).cloned();
        let source = match class.rsplit('.').next().unwrap_or_default() {
            "MixedHeartbeatTransport" | "HeartbeatTransport" => {
                if opt("data").is_some() {
                    bail!(
                        "transport {}: custom heartbeat `data` is not supported (ScryWarden turned it into strings that never match)",
                        yname(&name)
                    );
                }
                SourceSettings::Heartbeat {
                    interval: format!("{}s", opt("interval").as_ref().and_then(num).unwrap_or(5.0)),
                    count: opt("count").as_ref().and_then(Y::as_u64).unwrap_or(1) as usize,
                    mixed: class.ends_with("MixedHeartbeatTransport"),
                    ticks: None,
                    start: None,
                }
            }
            "CSVTransport" => {
                let file = opt("file")
                    .as_ref()
                    .and_then(s)
                    .ok_or_else(|| anyhow!("transport {}: `file` is required", yname(&name)))?;
                SourceSettings::File { path: vec![file] }
            }
            _ => bail!(
                "transport {}: class '{class}' has no crest equivalent (use a [[source]] of kind file, stdin or heartbeat)",
                yname(&name)
            ),
        };
        settings.sources.push(source);
    }
    for (name, p) in get(&doc, "profiles").and_then(|m| m.as_mapping().cloned()).unwrap_or_default()
    {
        let name = yname(&name);
        let class = p.get("class").and_then(s).unwrap_or_default();
        let mut spec: ProfileSpec = if class.ends_with("profile.example.ExampleProfile") {
            ProfileSpec {
                actor: "person".into(),
                require: vec!["greeting".into()],
                features: vec![FeatureSpec {
                    field: Some("greeting".into()),
                    reporter: ReporterKind::Mandatory,
                    ..Default::default()
                }],
                ..Default::default()
            }
        } else {
            // crest's keys in the profile's mapping stand for the Python class.
            let mut m = p.as_mapping().cloned().unwrap_or_default();
            for k in ["class", "config", "collector", "analyzer"] {
                m.remove(k);
            }
            if m.is_empty() {
                bail!(
                    "profile {name}: class '{class}' is Python code crest cannot run; describe it with crest's keys (actor, match, feature) in the same mapping"
                );
            }
            serde_yaml::from_value(Y::Mapping(m)).with_context(|| format!("profile {name}"))?
        };
        spec.scoring = Scoring::Scrywarden;
        if let Some(c) = p.get("collector").and_then(|c| c.get("config")) {
            let mut col = CollectorSpec::default();
            if let Some(v) = c.get("seconds").and_then(num) {
                col.window = format!("{v}s");
            }
            if let Some(v) = c.get("interval").and_then(num) {
                col.interval = format!("{v}s");
            }
            if let Some(v) = c.get("delay").and_then(num) {
                col.delay = format!("{v}s");
            }
            spec.collector = col;
        }
        let mut analyzer = Analyzer::scrywarden();
        if let Some(c) = p.get("analyzer").and_then(|c| c.get("config"))
            && let Analyzer::Decay { weight, decay, threshold } = &mut analyzer
        {
            *weight = c.get("weight").and_then(num).unwrap_or(*weight);
            *decay = c.get("decay").and_then(num).unwrap_or(*decay);
            *threshold = c.get("threshold").and_then(num).unwrap_or(*threshold);
        }
        spec.analyzer = Some(analyzer);
        settings.profiles.insert(name, spec);
    }
    for (_, sh) in get(&doc, "shippers").and_then(|m| m.as_mapping().cloned()).unwrap_or_default() {
        let class = sh.get("class").and_then(s).unwrap_or_default();
        let shipper = match class.rsplit('.').next().unwrap_or_default() {
            "CSVShipper" => ShipperSettings::Csv {
                path: sh
                    .get("config")
                    .and_then(|c| c.get("filename"))
                    .and_then(s)
                    .map_or_else(default_alerts, PathBuf::from),
            },
            "LoggerShipper" | "LoggerCountShipper" => ShipperSettings::Terminal,
            _ => bail!("shipper class '{class}' has no crest equivalent (csv, jsonl or terminal)"),
        };
        settings.shippers.push(shipper);
    }
    Ok(settings)
}

fn yname(v: &serde_yaml::Value) -> String {
    v.as_str().map_or_else(
        || serde_yaml::to_string(v).unwrap_or_default().trim().to_string(),
        str::to_string,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrywarden_yaml_maps_to_crest() {
        let yaml = "database:\n  host: \"127.0.0.1\"\n  port: 5441\n  name: \"scrywarden\"\n  user: \"scrywarden\"\n  password: \"scrywarden\"\n\
transports:\n  heartbeat:\n    class: \"scrywarden.transport.heartbeat.MixedHeartbeatTransport\"\n\
profiles:\n  example:\n    class: \"scrywarden.profile.example.ExampleProfile\"\n    collector:\n      class: \"scrywarden.profile.collectors.TimeRangeCollector\"\n    analyzer:\n      class: \"scrywarden.profile.analyzers.ExponentialDecayAnalyzer\"\n\
shippers:\n  csv:\n    class: \"scrywarden.shipper.csv.CSVShipper\"\n\
pipeline:\n  queue_size: 500\n  timeout: 10\n";
        let s = from_scrywarden_yaml(yaml).unwrap();
        assert_eq!(s.store.kind, StoreKind::Postgres);
        assert_eq!(
            s.store.url.as_deref(),
            Some("host=127.0.0.1 port=5441 dbname=scrywarden user=scrywarden password=scrywarden")
        );
        assert_eq!(s.pipeline.queue_size, 500);
        assert_eq!(s.pipeline.timeout, "10s");
        assert!(matches!(&s.sources[0], SourceSettings::Heartbeat { mixed: true, count: 1, .. }));
        let profiles = s.profiles().unwrap();
        assert_eq!(profiles[0].name, "example");
        assert_eq!(profiles[0].scoring, Scoring::Scrywarden);
        assert_eq!(profiles[0].features[0].name, "greeting");
        assert_eq!(s.shippers, vec![ShipperSettings::Csv { path: "alerts.csv".into() }]);
    }

    #[test]
    fn toml_unknown_keys_are_errors_with_a_line() {
        let err =
            toml::from_str::<Settings>("[profile.a]\nactor = \"u\"\ntreshold = 3\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 3") && msg.contains("treshold"), "{msg}");
    }
}
