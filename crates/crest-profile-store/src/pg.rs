//! The PostgreSQL store: ScryWarden's data model in a schema of its own, shared by processes.
//!
//! Every table lives in one schema, created and migrated on [`PgStore::connect`] (numbered SQL
//! steps recorded in `crest_migrations`, each applied in its own transaction under an advisory
//! lock, so processes starting together migrate once). The model scores; this store loads the
//! counts of a batch's actors before scoring and writes the batch's outcome in one transaction
//! afterwards, with bulk statements over arrays (a handful of round trips per batch). Each
//! commit bumps the profile's sequence number; a writer that finds the number where its own
//! last commit left it knows nobody else wrote, and loads only actors it has never loaded.
//!
//! Several writers may share a profile: counts are added by atomic upserts
//! (`count = count + excluded.count`, both sides decayed to the later time when a half-life is
//! set), and every writer takes its row locks in one order (the profile's sequence, actors by
//! name, then feature rows by actor, feature and value), so concurrent batches wait for each
//! other but never deadlock.
//!
//! Times are microseconds since the Unix epoch in Rust and `timestamptz` in the database; the
//! conversions are exact: written as a whole number of microseconds added to the epoch, read
//! in PostgreSQL's binary form (microseconds since 2000), never through float seconds.

use std::collections::{HashMap, HashSet};

use crest_profile::analyzer::AnomalyRow;
use crest_profile::config::Profile;
use crest_profile::model::{Evidence, Message, ModelState, Outcome};
use postgres::types::{FromSql, Type};
use postgres::{Client, NoTls, Row, Statement};
use serde_json::Value;

use crate::{ActorView, Counts, Investigation, ProfileStore, StoreError};

/// `$p` (microseconds since the epoch) as a `timestamptz`, exactly.
macro_rules! ts {
    ($p:literal) => {
        concat!("(timestamptz 'epoch' + (", $p, ")::int8 * interval '1 microsecond')")
    };
}

/// First key of the advisory lock that serializes migrations (the second is the schema's hash).
const MIGRATION_LOCK: i32 = 0x6372_6573; // "cres"

/// The schema's migrations, in order; a step is never edited once released, only added.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE profile (
    profile_id serial PRIMARY KEY,
    name text NOT NULL UNIQUE
);
CREATE TABLE field (
    field_id serial PRIMARY KEY,
    profile_id int NOT NULL REFERENCES profile ON DELETE CASCADE,
    name text NOT NULL,
    reporter text NOT NULL,
    UNIQUE (profile_id, name)
);
CREATE TABLE actor (
    actor_id bigserial PRIMARY KEY,
    profile_id int NOT NULL REFERENCES profile ON DELETE CASCADE,
    name text NOT NULL,
    first_seen timestamptz NOT NULL,
    UNIQUE (profile_id, name)
);
-- ScryWarden's unique (field, actor, value), led by the actor: a batch loads the rows of its
-- actors. Every batch rewrites the counts of its actors: free room in each page lets an update
-- stay on its page without touching the indexes (HOT).
CREATE TABLE feature (
    feature_id bigserial PRIMARY KEY,
    field_id int NOT NULL REFERENCES field ON DELETE CASCADE,
    actor_id bigint NOT NULL REFERENCES actor ON DELETE CASCADE,
    value text NOT NULL,
    count float8 NOT NULL,
    as_of timestamptz NOT NULL,
    UNIQUE (actor_id, field_id, value)
) WITH (fillfactor = 70);
-- How many actors report a value (rarity). With the actor last it matches a whole key too, so
-- the planner finds an anomaly's row exactly by either index.
CREATE INDEX feature_value ON feature (field_id, value, actor_id);
CREATE TABLE message (
    message_id bigserial PRIMARY KEY,
    data jsonb
);
CREATE TABLE event (
    event_id bigserial PRIMARY KEY,
    message_id bigint NOT NULL REFERENCES message ON DELETE CASCADE,
    actor_id bigint NOT NULL REFERENCES actor ON DELETE CASCADE,
    created_at timestamptz NOT NULL
);
CREATE INDEX event_created_at ON event (created_at);
CREATE INDEX event_actor ON event (actor_id);
CREATE INDEX event_message ON event (message_id);
CREATE TABLE anomaly (
    anomaly_id bigserial PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES event ON DELETE CASCADE,
    field_id int NOT NULL REFERENCES field ON DELETE CASCADE,
    feature_id bigint REFERENCES feature ON DELETE CASCADE,
    value text NOT NULL,
    score float8 NOT NULL,
    evidence jsonb NOT NULL,
    UNIQUE (event_id, field_id)
);
CREATE TABLE investigation (
    investigation_id bigserial PRIMARY KEY,
    profile_id int NOT NULL REFERENCES profile ON DELETE CASCADE,
    "index" bigint NOT NULL,
    after_at timestamptz NOT NULL,
    until_at timestamptz NOT NULL,
    last_event timestamptz NOT NULL,
    events bigint NOT NULL,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (profile_id, "index")
);
CREATE TABLE investigation_event (
    investigation_id bigint NOT NULL REFERENCES investigation ON DELETE CASCADE,
    event_id bigint NOT NULL REFERENCES event ON DELETE CASCADE,
    UNIQUE (investigation_id, event_id)
);
CREATE TABLE investigation_malicious (
    investigation_id bigint NOT NULL REFERENCES investigation ON DELETE CASCADE,
    anomaly_id bigint NOT NULL REFERENCES anomaly ON DELETE CASCADE,
    UNIQUE (investigation_id, anomaly_id)
);
"#,
    ),
    (
        2,
        r#"
-- Bumped by every batch a writer commits: a writer whose last commit left it at n, and finds
-- n, knows that what it holds in memory is what is stored, and loads nothing again.
ALTER TABLE profile ADD COLUMN seq bigint NOT NULL DEFAULT 0;
"#,
    ),
];

const INSERT_PROFILE: &str = "INSERT INTO profile (name) VALUES ($1) ON CONFLICT (name) DO NOTHING";
const SELECT_PROFILE: &str = "SELECT profile_id FROM profile WHERE name = $1";
const UPSERT_FIELDS: &str = "INSERT INTO field (profile_id, name, reporter) \
     SELECT $1, u.name, u.reporter FROM unnest($2::text[], $3::text[]) AS u(name, reporter) \
     ORDER BY u.name \
     ON CONFLICT (profile_id, name) DO UPDATE SET reporter = excluded.reporter \
     WHERE field.reporter IS DISTINCT FROM excluded.reporter";
const SELECT_FIELDS: &str = "SELECT field_id, name FROM field WHERE profile_id = $1";
const SELECT_SEQ: &str = "SELECT seq FROM profile WHERE profile_id = $1";
// The first statement of every commit: the profile row's lock orders concurrent commits.
const BUMP_SEQ: &str = "UPDATE profile SET seq = seq + 1 WHERE profile_id = $1 RETURNING seq";

const LOAD_FEATURES: &str = "SELECT a.name, a.first_seen, f.field_id, f.value, f.count, f.as_of \
     FROM actor a JOIN feature f ON f.actor_id = a.actor_id \
     WHERE a.profile_id = $1 AND a.name = ANY($2::text[]) AND f.field_id = ANY($3::int4[])";
// Feature rows are unique per (field, actor, value): rows with the value are distinct actors.
const LOAD_POPULATION: &str = "SELECT u.i, \
     (SELECT count(*) FROM feature f WHERE f.field_id = u.f AND f.value = u.v) \
     FROM unnest($1::int4[], $2::text[]) WITH ORDINALITY AS u(f, v, i)";
const LOAD_POPULATION_OF: &str = "SELECT u.f, \
     (SELECT count(*) FROM actor a WHERE a.profile_id = $1 AND EXISTS \
      (SELECT 1 FROM feature f WHERE f.actor_id = a.actor_id AND f.field_id = u.f)) \
     FROM unnest($2::int4[]) AS u(f)";

// New actors, sorted by name (the lock order); an actor another writer created first keeps
// the earlier first sighting.
const UPSERT_ACTORS: &str = concat!(
    "INSERT INTO actor AS a (profile_id, name, first_seen) SELECT $1, u.name, ",
    ts!("u.t"),
    " FROM unnest($2::text[], $3::int8[]) WITH ORDINALITY AS u(name, t, i) ORDER BY u.i \
     ON CONFLICT (profile_id, name) \
     DO UPDATE SET first_seen = least(a.first_seen, excluded.first_seen) \
     WHERE excluded.first_seen < a.first_seen"
);
// Actors named by a batch that are neither new nor stored (the caller did not load them):
// created without touching existing rows.
const INSERT_MISSING_ACTORS: &str = concat!(
    "INSERT INTO actor (profile_id, name, first_seen) SELECT $1, u.name, ",
    ts!("u.t"),
    " FROM unnest($2::text[], $3::int8[]) WITH ORDINALITY AS u(name, t, i) ORDER BY u.i \
     ON CONFLICT (profile_id, name) DO NOTHING"
);
const SELECT_ACTOR_IDS: &str =
    "SELECT actor_id, name FROM actor WHERE profile_id = $1 AND name = ANY($2::text[])";
const UPSERT_FEATURES_HEAD: &str = concat!(
    "INSERT INTO feature AS f (field_id, actor_id, value, count, as_of) \
     SELECT u.field_id, u.actor_id, u.value, u.count, ",
    ts!("u.as_of"),
    " FROM unnest($1::int4[], $2::int8[], $3::text[], $4::float8[], $5::int8[]) \
     WITH ORDINALITY AS u(field_id, actor_id, value, count, as_of, i) ORDER BY u.i \
     ON CONFLICT (actor_id, field_id, value) DO UPDATE SET "
);
const ADD_COUNTS: &str =
    "count = f.count + excluded.count, as_of = greatest(f.as_of, excluded.as_of)";
const ALLOCATE_IDS: &str = "SELECT nextval('message_message_id_seq'), \
     nextval('event_event_id_seq') FROM generate_series(1, $1::int8)";
const INSERT_MESSAGES: &str = "INSERT INTO message (message_id, data) \
     SELECT u.id, u.data::jsonb FROM unnest($1::int8[], $2::text[]) AS u(id, data)";
const INSERT_EVENTS: &str = concat!(
    "INSERT INTO event (event_id, message_id, actor_id, created_at) \
     SELECT u.id, u.message_id, u.actor_id, ",
    ts!("u.t"),
    " FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[]) \
     AS u(id, message_id, actor_id, t)"
);
// The feature id by a probe of the unique index per anomaly: a join may get a plan that reads
// the whole feature table.
const INSERT_ANOMALIES: &str = "INSERT INTO anomaly \
     (event_id, field_id, feature_id, value, score, evidence) \
     SELECT u.event_id, u.field_id, \
     (SELECT f.feature_id FROM feature f \
      WHERE f.actor_id = u.actor_id AND f.field_id = u.field_id AND f.value = u.value), \
     u.value, u.score, u.evidence::jsonb \
     FROM unnest($1::int8[], $2::int4[], $3::int8[], $4::text[], $5::float8[], $6::text[]) \
     AS u(event_id, field_id, actor_id, value, score, evidence)";

// The index on created_at finds the earliest event; the join keeps the profile's.
const FIRST_EVENT: &str = "SELECT e.created_at \
     FROM event e JOIN actor a ON a.actor_id = e.actor_id \
     WHERE a.profile_id = $1 ORDER BY e.created_at LIMIT 1";
const NEXT_EVENT: &str = concat!(
    "SELECT e.created_at FROM event e JOIN actor a ON a.actor_id = e.actor_id \
     WHERE a.profile_id = $1 AND e.created_at > ",
    ts!("$2"),
    " ORDER BY e.created_at LIMIT 1"
);
const ANOMALIES: &str = concat!(
    "SELECT e.event_id, e.message_id, e.actor_id, a.name, e.created_at, \
     n.anomaly_id, n.field_id, fl.name, n.value, n.score, n.evidence::text \
     FROM event e JOIN actor a ON a.actor_id = e.actor_id \
     JOIN anomaly n ON n.event_id = e.event_id JOIN field fl ON fl.field_id = n.field_id \
     WHERE a.profile_id = $1 AND e.created_at > ",
    ts!("$2"),
    " AND e.created_at <= ",
    ts!("$3"),
    " ORDER BY e.event_id, n.anomaly_id"
);
const LAST_INVESTIGATION: &str = "SELECT i.investigation_id, i.\"index\", i.after_at, i.until_at, \
     i.last_event, i.events, i.completed_at IS NOT NULL, \
     array(SELECT m.anomaly_id FROM investigation_malicious m \
           WHERE m.investigation_id = i.investigation_id ORDER BY m.anomaly_id) \
     FROM investigation i WHERE i.profile_id = $1 ORDER BY i.\"index\" DESC LIMIT 1";
// A second claimer of the same index waits for the first to commit, then inserts nothing.
const CLAIM_INVESTIGATION: &str = concat!(
    "INSERT INTO investigation (profile_id, \"index\", after_at, until_at, last_event, events) \
     VALUES ($1, $2, ",
    ts!("$3"),
    ", ",
    ts!("$4"),
    ", ",
    ts!("$5"),
    ", $6) ON CONFLICT (profile_id, \"index\") DO NOTHING RETURNING investigation_id"
);
const INSERT_INVESTIGATION_EVENTS: &str = "INSERT INTO investigation_event \
     (investigation_id, event_id) SELECT $1, e FROM unnest($2::int8[]) AS u(e) \
     ON CONFLICT DO NOTHING";
const INSERT_MALICIOUS: &str = "INSERT INTO investigation_malicious \
     (investigation_id, anomaly_id) SELECT $1, m FROM unnest($2::int8[]) AS u(m) \
     ON CONFLICT DO NOTHING";
const COMPLETE_INVESTIGATION: &str =
    "UPDATE investigation SET completed_at = now() WHERE investigation_id = $1 AND profile_id = $2";
const SELECT_ACTOR: &str =
    "SELECT actor_id, first_seen FROM actor WHERE profile_id = $1 AND name = $2";
const ACTOR_FEATURES: &str =
    "SELECT field_id, value, count, as_of FROM feature WHERE actor_id = $1";
const ACTOR_EVENTS: &str = "SELECT (SELECT count(*) FROM event WHERE actor_id = $1), \
     (SELECT count(*) FROM anomaly n JOIN event e ON e.event_id = n.event_id \
      WHERE e.actor_id = $1)";
const COUNTS: &str = "SELECT \
     (SELECT count(*) FROM actor WHERE profile_id = $1), \
     (SELECT count(*) FROM feature f JOIN field fl ON fl.field_id = f.field_id \
      WHERE fl.profile_id = $1), \
     (SELECT count(DISTINCT e.message_id) FROM event e JOIN actor a ON a.actor_id = e.actor_id \
      WHERE a.profile_id = $1), \
     (SELECT count(*) FROM event e JOIN actor a ON a.actor_id = e.actor_id \
      WHERE a.profile_id = $1), \
     (SELECT count(*) FROM anomaly n JOIN field fl ON fl.field_id = n.field_id \
      WHERE fl.profile_id = $1), \
     (SELECT count(*) FROM investigation WHERE profile_id = $1)";

/// The database ids of one profile: its own and one field per feature, in the profile's order.
#[derive(Clone, Debug)]
struct Ids {
    profile: i32,
    /// Per feature index; 0 (no such row: serial ids start at 1) for a feature never
    /// registered, which only read-only lookups leave.
    fields: Vec<i32>,
}

impl Ids {
    fn feature_of(&self, field_id: i32) -> Option<usize> {
        self.fields.iter().position(|&f| f == field_id && f != 0)
    }
}

/// What a writer knows the model state it scores with holds of the stored profile.
///
/// Every commit bumps the profile's `seq`. When a writer's own commit took it from n to n + 1,
/// nobody else wrote in between, so the state (loaded, then changed by exactly that batch) is
/// what is stored: the next batch loads only actors and values it has never loaded. When the
/// sequence moved otherwise, the state is thrown away and reloaded batch by batch.
#[derive(Debug, Default)]
struct Cache {
    /// The sequence the state is current at; `None` when unknown.
    seq: Option<i64>,
    /// Actors the state holds as stored.
    actors: HashSet<String>,
    /// Rarity values whose population the state holds as stored.
    values: HashSet<(usize, String)>,
    /// Actor ids by name (an actor row keeps its id).
    ids: HashMap<String, i64>,
}

/// A profile store on PostgreSQL, in one schema, shared by any number of processes.
pub struct PgStore {
    client: Client,
    /// The connection string, for [`ProfileStore::fork`].
    url: String,
    schema: String,
    /// Profile name → ids, learned on first use.
    profiles: HashMap<String, Ids>,
    /// Profile name → what the state returned by `open` holds.
    caches: HashMap<String, Cache>,
    /// Prepared statements by SQL text: one round trip per statement instead of two.
    statements: HashMap<String, Statement>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("schema", &self.schema).finish_non_exhaustive()
    }
}

/// Microseconds since 2000-01-01, where PostgreSQL counts from.
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// A `timestamptz` read in binary as microseconds since the Unix epoch: exact, and nothing for
/// the server to convert per row.
struct Micros(i64);

impl<'a> FromSql<'a> for Micros {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> Result<Micros, Box<dyn std::error::Error + Sync + Send>> {
        let t = i64::from_be_bytes(raw.try_into()?);
        // ±infinity are i64::MAX and i64::MIN, and stay so.
        Ok(Micros(if t == i64::MAX || t == i64::MIN { t } else { t.saturating_add(PG_EPOCH_US) }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }
}

/// Maps a client error to the store's error, saying what the store was doing.
fn pg(context: impl Into<String>) -> impl FnOnce(postgres::Error) -> StoreError {
    move |source| StoreError::Postgres { context: context.into(), source }
}

/// One column of a row, typed, with the failure (a type the server did not send) as an error.
fn col<'a, T: FromSql<'a>>(row: &'a Row, i: usize, context: &str) -> Result<T, StoreError> {
    row.try_get(i).map_err(pg(context))
}

/// A `timestamptz` column as microseconds since the epoch.
fn time(row: &Row, i: usize, context: &str) -> Result<i64, StoreError> {
    col::<Micros>(row, i, context).map(|m| m.0)
}

/// A count from the server as an unsigned number (never negative in practice).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Whether `schema` is a plain identifier, safe to interpolate into SQL.
fn valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && schema.len() <= 63
}

/// The server a connection string names, without its password (for messages).
fn describe(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "{}:{} database {} as {}",
        if hosts.is_empty() { "localhost".to_string() } else { hosts.join(",") },
        if ports.is_empty() { "5432".to_string() } else { ports.join(",") },
        config.get_dbname().unwrap_or("(default)"),
        config.get_user().unwrap_or("(default)"),
    )
}

/// A message as JSON text for a `jsonb` column: jsonb refuses the NUL character (`\u0000`),
/// so NULs in strings become U+FFFD rather than failing the whole batch.
fn jsonb_text(data: &Value) -> String {
    let text = data.to_string();
    if !text.contains("\\u0000") {
        return text;
    }
    fn clean(v: &mut Value) {
        match v {
            Value::String(s) => *s = s.replace('\0', "\u{fffd}"),
            Value::Array(a) => a.iter_mut().for_each(clean),
            Value::Object(o) => {
                let entries: Vec<(String, Value)> = std::mem::take(o).into_iter().collect();
                for (k, mut v) in entries {
                    clean(&mut v);
                    o.insert(k.replace('\0', "\u{fffd}"), v);
                }
            }
            _ => {}
        }
    }
    let mut v = data.clone();
    clean(&mut v);
    v.to_string()
}

/// `count` valued at `from`, decayed to `to` (not earlier) with half-life `h`.
fn decayed(count: f64, from: i64, to: i64, half_life_us: Option<i64>) -> f64 {
    match half_life_us {
        Some(h) if to > from => count * 0.5f64.powf((to - from) as f64 / h as f64),
        _ => count,
    }
}

impl PgStore {
    /// Connects (`host=… port=… user=… dbname=…` or a `postgresql://` URL) and creates or
    /// migrates the store's tables in `schema` (created if missing).
    pub fn connect(url: &str, schema: &str) -> Result<PgStore, StoreError> {
        if !valid_schema(schema) {
            return Err(StoreError::Setting {
                key: "schema".into(),
                message: format!(
                    "'{schema}' is not a valid PostgreSQL schema name \
                     (letters, digits and '_', not starting with a digit, at most 63)"
                ),
            });
        }
        let config: postgres::Config = url.parse().map_err(pg("reading the connection string"))?;
        let mut client =
            config.connect(NoTls).map_err(pg(format!("connecting to {}", describe(&config))))?;
        // Validated above, so quoting is enough; every statement below names tables unqualified.
        client
            .batch_execute(&format!("SET search_path TO \"{schema}\""))
            .map_err(pg(format!("setting search_path to schema '{schema}'")))?;
        let mut store = PgStore {
            client,
            url: url.to_string(),
            schema: schema.to_string(),
            profiles: HashMap::new(),
            caches: HashMap::new(),
            statements: HashMap::new(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The schema the store's tables live in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Creates the schema and applies the migrations not yet applied, each in a transaction
    /// holding an advisory lock, so concurrent processes apply each step once.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let schema = self.schema.clone();
        let ctx = |what: &str| format!("migrating schema '{schema}': {what}");
        let lock = "SELECT pg_advisory_xact_lock($1, hashtext($2))";
        {
            let mut tx = self.client.transaction().map_err(pg(ctx("begin")))?;
            tx.execute(lock, &[&MIGRATION_LOCK, &schema])
                .map_err(pg(ctx("taking the migration lock")))?;
            // Checked first: CREATE … IF NOT EXISTS needs the privilege even when nothing is
            // created, and a schema prepared by an administrator must do.
            let has_schema = tx
                .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
                .map_err(pg(ctx("looking for the schema")))?
                .is_some();
            if !has_schema {
                tx.batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
                    .map_err(pg(ctx("creating the schema")))?;
            }
            let has_table = tx
                .query_one("SELECT to_regclass('crest_migrations') IS NOT NULL", &[])
                .map_err(pg(ctx("looking for crest_migrations")))?;
            if !col::<bool>(&has_table, 0, &ctx("looking for crest_migrations"))? {
                tx.batch_execute(
                    "CREATE TABLE crest_migrations \
                     (version int PRIMARY KEY, applied_at timestamptz DEFAULT now())",
                )
                .map_err(pg(ctx("creating crest_migrations")))?;
            }
            tx.commit().map_err(pg(ctx("commit")))?;
        }
        for (version, sql) in MIGRATIONS {
            let step = |what: &str| ctx(&format!("step {version}: {what}"));
            let mut tx = self.client.transaction().map_err(pg(step("begin")))?;
            tx.execute(lock, &[&MIGRATION_LOCK, &schema])
                .map_err(pg(step("taking the migration lock")))?;
            let applied = tx
                .query_opt("SELECT 1 FROM crest_migrations WHERE version = $1", &[version])
                .map_err(pg(step("reading crest_migrations")))?
                .is_some();
            if !applied {
                tx.batch_execute(sql).map_err(pg(step("applying")))?;
                tx.execute("INSERT INTO crest_migrations (version) VALUES ($1)", &[version])
                    .map_err(pg(step("recording")))?;
            }
            tx.commit().map_err(pg(step("commit")))?;
        }
        Ok(())
    }

    /// A prepared statement for `sql`, prepared once per connection.
    fn statement(&mut self, sql: &str, context: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s =
            self.client.prepare(sql).map_err(pg(format!("{context}: preparing a statement")))?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// The profile's ids: registered (profile and fields upserted) when `create`, else looked
    /// up, `None` when the profile was never stored.
    fn ids(&mut self, profile: &Profile, create: bool) -> Result<Option<Ids>, StoreError> {
        if let Some(ids) = self.profiles.get(&profile.name) {
            return Ok(Some(ids.clone()));
        }
        let ctx = format!("registering profile '{}'", profile.name);
        let mut tx = self.client.transaction().map_err(pg(&ctx))?;
        if create {
            tx.execute(INSERT_PROFILE, &[&profile.name]).map_err(pg(&ctx))?;
        }
        let Some(row) = tx.query_opt(SELECT_PROFILE, &[&profile.name]).map_err(pg(&ctx))? else {
            return Ok(None);
        };
        let profile_id: i32 = col(&row, 0, &ctx)?;
        if create {
            let names: Vec<&str> = profile.features.iter().map(|f| f.name.as_str()).collect();
            let reporters: Vec<&str> = profile.features.iter().map(|f| f.reporter.name()).collect();
            tx.execute(UPSERT_FIELDS, &[&profile_id, &names, &reporters]).map_err(pg(&ctx))?;
        }
        let mut by_name = HashMap::new();
        for row in tx.query(SELECT_FIELDS, &[&profile_id]).map_err(pg(&ctx))? {
            by_name.insert(col::<String>(&row, 1, &ctx)?, col::<i32>(&row, 0, &ctx)?);
        }
        tx.commit().map_err(pg(&ctx))?;
        let fields: Vec<i32> =
            profile.features.iter().map(|f| by_name.get(&f.name).copied().unwrap_or(0)).collect();
        let ids = Ids { profile: profile_id, fields };
        if !ids.fields.contains(&0) {
            self.profiles.insert(profile.name.clone(), ids.clone());
        }
        Ok(Some(ids))
    }

    /// The ids of a profile that is written to (registered if needed).
    fn writable(&mut self, profile: &Profile) -> Result<Ids, StoreError> {
        match self.ids(profile, true)? {
            Some(ids) => Ok(ids),
            None => Err(StoreError::Mismatch {
                profile: profile.name.clone(),
                reason: "the profile vanished from the database while being registered".into(),
            }),
        }
    }

    /// The upsert of feature counts: plain sums, or both sides decayed to the later time.
    fn upsert_features_sql(half_life_us: Option<i64>) -> String {
        match half_life_us {
            None => format!("{UPSERT_FEATURES_HEAD}{ADD_COUNTS}"),
            Some(h) => {
                // Half-lives from the stored time to the new one: the interval is exact; its
                // seconds as float (much cheaper than numeric) differ in the last bits only.
                let d = format!(
                    "(date_part('epoch', excluded.as_of - f.as_of) * 1000000 / {h}::float8)"
                );
                // Each side decays to the later time (the other's factor is 0.5^0 = 1, exact).
                // Capped at 1000 half-lives because PostgreSQL raises an error on underflow
                // instead of returning 0; 0.5^1000 is below the last bit of the other side
                // (counts are ≥ 1: each holds its latest occurrence whole).
                format!(
                    "{UPSERT_FEATURES_HEAD}\
                     count = f.count * power(0.5::float8, least(greatest({d}, 0), 1000)) \
                     + excluded.count * power(0.5::float8, least(greatest(-{d}, 0), 1000)), \
                     as_of = greatest(f.as_of, excluded.as_of)"
                )
            }
        }
    }
}

impl ProfileStore for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn shared(&self) -> bool {
        true
    }

    fn fork(&self) -> Result<Option<Box<dyn ProfileStore>>, StoreError> {
        Ok(Some(Box::new(PgStore::connect(&self.url, &self.schema)?)))
    }

    fn open(&mut self, profile: &Profile) -> Result<ModelState, StoreError> {
        self.profiles.remove(&profile.name);
        self.caches.remove(&profile.name);
        self.writable(profile)?;
        // Shared: each batch loads what it needs.
        Ok(ModelState::new(profile))
    }

    fn load(
        &mut self,
        profile: &Profile,
        state: &mut ModelState,
        actors: &[&str],
        values: &[(usize, &str)],
    ) -> Result<(), StoreError> {
        if actors.is_empty() && values.is_empty() {
            return Ok(());
        }
        let ctx = format!("loading actors of profile '{}'", profile.name);
        let Some(ids) = self.ids(profile, false)? else {
            state.forget(actors);
            return Ok(());
        };
        let stmt = self.statement(SELECT_SEQ, &ctx)?;
        let seq: Option<i64> = match self.client.query_opt(&stmt, &[&ids.profile]) {
            Ok(row) => row.map(|r| col(&r, 0, &ctx)).transpose()?,
            Err(e) => return Err(pg(&ctx)(e)),
        };
        let cache = self.caches.entry(profile.name.clone()).or_default();
        if seq.is_none() || cache.seq != seq {
            // Another writer changed the profile (or this is the first load): start over.
            *state = ModelState::new(profile);
            *cache = Cache { seq, ..Cache::default() };
        }
        let actors: Vec<&str> =
            actors.iter().copied().filter(|a| !cache.actors.contains(*a)).collect();
        let values: Vec<(usize, &str)> = values
            .iter()
            .copied()
            .filter(|(f, v)| !cache.values.contains(&(*f, v.to_string())))
            .collect();
        cache.actors.extend(actors.iter().map(|a| a.to_string()));
        cache.values.extend(values.iter().map(|(f, v)| (*f, v.to_string())));
        state.forget(&actors);
        let (actors, values) = (&actors[..], &values[..]);
        if !actors.is_empty() {
            let stmt = self.statement(LOAD_FEATURES, &ctx)?;
            let rows = self
                .client
                .query(&stmt, &[&ids.profile, &actors, &ids.fields])
                .map_err(pg(&ctx))?;
            for row in &rows {
                let field_id: i32 = col(row, 2, &ctx)?;
                let Some(feature) = ids.feature_of(field_id) else { continue };
                state.load_feature(
                    profile,
                    col(row, 0, &ctx)?,
                    time(row, 1, &ctx)?,
                    feature,
                    col(row, 3, &ctx)?,
                    col(row, 4, &ctx)?,
                    time(row, 5, &ctx)?,
                );
            }
        }
        let known: Vec<&(usize, &str)> =
            values.iter().filter(|(f, _)| ids.fields.get(*f).is_some_and(|&id| id != 0)).collect();
        if known.is_empty() {
            return Ok(());
        }
        let ctx = format!("loading value populations of profile '{}'", profile.name);
        let fields: Vec<i32> = known.iter().map(|(f, _)| ids.fields[*f]).collect();
        let texts: Vec<&str> = known.iter().map(|(_, v)| *v).collect();
        let stmt = self.statement(LOAD_POPULATION_OF, &ctx)?;
        let mut distinct = fields.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let mut of: HashMap<i32, u32> = HashMap::new();
        for row in self.client.query(&stmt, &[&ids.profile, &distinct]).map_err(pg(&ctx))? {
            let n: i64 = col(&row, 1, &ctx)?;
            of.insert(col(&row, 0, &ctx)?, u32::try_from(n).unwrap_or(u32::MAX));
        }
        let stmt = self.statement(LOAD_POPULATION, &ctx)?;
        for row in self.client.query(&stmt, &[&fields, &texts]).map_err(pg(&ctx))? {
            let i: i64 = col(&row, 0, &ctx)?;
            let n: i64 = col(&row, 1, &ctx)?;
            // WITH ORDINALITY counts from 1.
            let Some((f, v)) = usize::try_from(i - 1).ok().and_then(|i| known.get(i)) else {
                continue;
            };
            let total = of.get(&ids.fields[*f]).copied().unwrap_or(0);
            state.load_population(*f, v, u32::try_from(n).unwrap_or(u32::MAX), total);
        }
        Ok(())
    }

    fn commit(
        &mut self,
        profile: &Profile,
        batch: &[Message],
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        if outcome.new_actors.is_empty() && outcome.deltas.is_empty() && outcome.events.is_empty() {
            return Ok(());
        }
        let ids = self.writable(profile)?;
        let ctx = |what: &str| format!("committing a batch of profile '{}': {what}", profile.name);
        let field_of = |feature: usize| {
            ids.fields.get(feature).copied().filter(|&f| f != 0).ok_or_else(|| {
                StoreError::Mismatch {
                    profile: profile.name.clone(),
                    reason: format!(
                        "the batch names feature #{feature}, the profile has {}",
                        ids.fields.len()
                    ),
                }
            })
        };

        // Everything the transaction sends, gathered before it starts.
        let mut new_actors: Vec<(&str, i64)> =
            outcome.new_actors.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        new_actors.sort_unstable();
        new_actors.dedup_by(|b, a| a.0 == b.0); // keeps the earliest time of a name
        // Every actor the batch names, with a first sighting for one the store lacks.
        let mut named: HashMap<&str, i64> = HashMap::new();
        for d in &outcome.deltas {
            let t = named.entry(d.actor.as_str()).or_insert(d.as_of);
            *t = (*t).min(d.as_of);
        }
        for e in &outcome.events {
            let t = named.entry(e.actor.as_str()).or_insert(e.time);
            *t = (*t).min(e.time);
        }
        let mut names: Vec<&str> = named.keys().copied().collect();
        names.sort_unstable();

        let s_upsert_actors = self.statement(UPSERT_ACTORS, &ctx("actors"))?;
        let s_actor_ids = self.statement(SELECT_ACTOR_IDS, &ctx("actors"))?;
        let s_features = self
            .statement(&Self::upsert_features_sql(profile.half_life_us), &ctx("feature counts"))?;
        let s_allocate = self.statement(ALLOCATE_IDS, &ctx("events"))?;
        let s_messages = self.statement(INSERT_MESSAGES, &ctx("events"))?;
        let s_events = self.statement(INSERT_EVENTS, &ctx("events"))?;
        let s_anomalies = self.statement(INSERT_ANOMALIES, &ctx("events"))?;
        let s_bump = self.statement(BUMP_SEQ, &ctx("sequence"))?;
        let known = &self.caches.entry(profile.name.clone()).or_default().ids;
        // Ids learned in this transaction join the cache only once it commits (a rolled-back
        // actor row has no id).
        let mut actor_ids: HashMap<String, i64> = HashMap::new();
        let mut tx = self.client.transaction().map_err(pg(ctx("begin")))?;

        // (0) The profile's sequence: taken first, its lock orders concurrent commits.
        let seq: i64 = match tx.query_opt(&s_bump, &[&ids.profile]) {
            Ok(Some(row)) => col(&row, 0, &ctx("sequence"))?,
            Ok(None) => {
                return Err(StoreError::Mismatch {
                    profile: profile.name.clone(),
                    reason: "the profile vanished from the database".into(),
                });
            }
            Err(e) => return Err(pg(ctx("sequence"))(e)),
        };

        // (1) Actors, in name order.
        if !new_actors.is_empty() {
            let (n, t): (Vec<&str>, Vec<i64>) = new_actors.iter().copied().unzip();
            tx.execute(&s_upsert_actors, &[&ids.profile, &n, &t])
                .map_err(pg(ctx("upserting actors")))?;
        }
        let unknown: Vec<&str> =
            names.iter().copied().filter(|n| !known.contains_key(*n)).collect();
        if !unknown.is_empty() {
            for row in tx
                .query(&s_actor_ids, &[&ids.profile, &unknown])
                .map_err(pg(ctx("reading actor ids")))?
            {
                actor_ids.insert(
                    col(&row, 1, &ctx("reading actor ids"))?,
                    col(&row, 0, &ctx("reading actor ids"))?,
                );
            }
        }
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !known.contains_key(*n) && !actor_ids.contains_key(*n))
            .collect();
        if !missing.is_empty() {
            let times: Vec<i64> = missing.iter().map(|n| named[n]).collect();
            tx.execute(INSERT_MISSING_ACTORS, &[&ids.profile, &missing, &times])
                .map_err(pg(ctx("creating actors")))?;
            for row in tx
                .query(&s_actor_ids, &[&ids.profile, &missing])
                .map_err(pg(ctx("reading actor ids")))?
            {
                actor_ids.insert(
                    col(&row, 1, &ctx("reading actor ids"))?,
                    col(&row, 0, &ctx("reading actor ids"))?,
                );
            }
        }
        let actor_id = |name: &str| {
            known.get(name).or_else(|| actor_ids.get(name)).copied().ok_or_else(|| {
                StoreError::Mismatch {
                    profile: profile.name.clone(),
                    reason: format!("actor '{name}' could not be stored"),
                }
            })
        };

        // (2) Counts, in the outcome's (actor, feature, value) order: the lock order.
        if !outcome.deltas.is_empty() {
            let n = outcome.deltas.len();
            let (mut f, mut a, mut v, mut c, mut t) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            for d in &outcome.deltas {
                f.push(field_of(d.feature)?);
                a.push(actor_id(&d.actor)?);
                v.push(d.value.as_str());
                c.push(d.count);
                t.push(d.as_of);
            }
            tx.execute(&s_features, &[&f, &a, &v, &c, &t])
                .map_err(pg(ctx("adding feature counts")))?;
        }

        // (3) Anomalous messages, their events and anomalies, with ids taken in advance so
        // that each row knows its parent's.
        if !outcome.events.is_empty() {
            let n = outcome.events.len();
            let rows = tx.query(&s_allocate, &[&(n as i64)]).map_err(pg(ctx("allocating ids")))?;
            let mut message_ids = Vec::with_capacity(n);
            let mut event_ids = Vec::with_capacity(n);
            for row in &rows {
                message_ids.push(col::<i64>(row, 0, &ctx("allocating ids"))?);
                event_ids.push(col::<i64>(row, 1, &ctx("allocating ids"))?);
            }
            let mut data = Vec::with_capacity(n);
            let mut event_actors = Vec::with_capacity(n);
            let mut times = Vec::with_capacity(n);
            let (
                mut an_event,
                mut an_field,
                mut an_actor,
                mut an_value,
                mut an_score,
                mut an_evidence,
            ) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (i, e) in outcome.events.iter().enumerate() {
                let message = batch.get(e.message).ok_or_else(|| StoreError::Mismatch {
                    profile: profile.name.clone(),
                    reason: format!("event of message {} in a batch of {}", e.message, batch.len()),
                })?;
                data.push(jsonb_text(&message.data.to_value()));
                let a = actor_id(&e.actor)?;
                event_actors.push(a);
                times.push(e.time);
                for an in &e.anomalies {
                    an_event.push(event_ids[i]);
                    an_field.push(field_of(an.feature)?);
                    an_actor.push(a);
                    an_value.push(an.value.as_str());
                    an_score.push(an.score);
                    an_evidence
                        .push(serde_json::to_string(&an.evidence).unwrap_or_else(|_| "{}".into()));
                }
            }
            tx.execute(&s_messages, &[&message_ids, &data])
                .map_err(pg(ctx("inserting messages")))?;
            tx.execute(&s_events, &[&event_ids, &message_ids, &event_actors, &times])
                .map_err(pg(ctx("inserting events")))?;
            if !an_event.is_empty() {
                tx.execute(
                    &s_anomalies,
                    &[&an_event, &an_field, &an_actor, &an_value, &an_score, &an_evidence],
                )
                .map_err(pg(ctx("inserting anomalies")))?;
            }
        }
        tx.commit().map_err(pg(ctx("commit")))?;
        // The state saw this batch on top of what it loaded: still what is stored only if no
        // other writer committed since it loaded.
        let cache = self.caches.entry(profile.name.clone()).or_default();
        cache.ids.extend(actor_ids);
        if cache.seq == Some(seq - 1) {
            cache.seq = Some(seq);
            cache.actors.extend(outcome.new_actors.iter().map(|(a, _)| a.clone()));
        } else {
            cache.seq = None;
        }
        Ok(())
    }

    fn flush(&mut self, _: &Profile, _: &ModelState) -> Result<(), StoreError> {
        // Every commit is durable already.
        Ok(())
    }

    fn first_event(&mut self, profile: &Profile) -> Result<Option<i64>, StoreError> {
        let ctx = format!("finding the first event of profile '{}'", profile.name);
        let Some(ids) = self.ids(profile, false)? else { return Ok(None) };
        let stmt = self.statement(FIRST_EVENT, &ctx)?;
        match self.client.query_opt(&stmt, &[&ids.profile]).map_err(pg(&ctx))? {
            Some(row) => Ok(Some(time(&row, 0, &ctx)?)),
            None => Ok(None),
        }
    }

    fn next_event_after(
        &mut self,
        profile: &Profile,
        after: i64,
    ) -> Result<Option<i64>, StoreError> {
        let ctx = format!("finding the next event of profile '{}'", profile.name);
        let Some(ids) = self.ids(profile, false)? else { return Ok(None) };
        let stmt = self.statement(NEXT_EVENT, &ctx)?;
        match self.client.query_opt(&stmt, &[&ids.profile, &after]).map_err(pg(&ctx))? {
            Some(row) => Ok(Some(time(&row, 0, &ctx)?)),
            None => Ok(None),
        }
    }

    fn anomalies(
        &mut self,
        profile: &Profile,
        after: i64,
        until: i64,
    ) -> Result<Vec<AnomalyRow>, StoreError> {
        let ctx = format!("reading anomalies of profile '{}'", profile.name);
        let Some(ids) = self.ids(profile, false)? else { return Ok(Vec::new()) };
        let stmt = self.statement(ANOMALIES, &ctx)?;
        let rows = self.client.query(&stmt, &[&ids.profile, &after, &until]).map_err(pg(&ctx))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let field_id: i32 = col(row, 6, &ctx)?;
            let evidence: String = col(row, 10, &ctx)?;
            out.push(AnomalyRow {
                event_id: col(row, 0, &ctx)?,
                message_id: col(row, 1, &ctx)?,
                actor_id: col(row, 2, &ctx)?,
                actor: col(row, 3, &ctx)?,
                time: time(row, 4, &ctx)?,
                anomaly_id: col(row, 5, &ctx)?,
                field_id: i64::from(field_id),
                field: col(row, 7, &ctx)?,
                value: col(row, 8, &ctx)?,
                score: col(row, 9, &ctx)?,
                // Informational: a row written by another version still reads.
                evidence: serde_json::from_str::<Evidence>(&evidence).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    fn last_investigation(
        &mut self,
        profile: &Profile,
    ) -> Result<Option<Investigation>, StoreError> {
        let ctx = format!("reading the last investigation of profile '{}'", profile.name);
        let Some(ids) = self.ids(profile, false)? else { return Ok(None) };
        let stmt = self.statement(LAST_INVESTIGATION, &ctx)?;
        let Some(row) = self.client.query_opt(&stmt, &[&ids.profile]).map_err(pg(&ctx))? else {
            return Ok(None);
        };
        Ok(Some(Investigation {
            id: col(&row, 0, &ctx)?,
            index: col(&row, 1, &ctx)?,
            after: time(&row, 2, &ctx)?,
            until: time(&row, 3, &ctx)?,
            last_event: time(&row, 4, &ctx)?,
            events: count(col(&row, 5, &ctx)?),
            completed: col(&row, 6, &ctx)?,
            malicious: col(&row, 7, &ctx)?,
        }))
    }

    fn begin_investigation(
        &mut self,
        profile: &Profile,
        index: i64,
        after: i64,
        until: i64,
        events: &[i64],
        last_event: i64,
    ) -> Result<Option<i64>, StoreError> {
        let ids = self.writable(profile)?;
        let ctx = format!("claiming investigation {index} of profile '{}'", profile.name);
        let mut tx = self.client.transaction().map_err(pg(&ctx))?;
        let n = events.len() as i64;
        let Some(row) = tx
            .query_opt(
                CLAIM_INVESTIGATION,
                &[&ids.profile, &index, &after, &until, &last_event, &n],
            )
            .map_err(pg(&ctx))?
        else {
            // Another process holds this index.
            return Ok(None);
        };
        let id: i64 = col(&row, 0, &ctx)?;
        if !events.is_empty() {
            tx.execute(INSERT_INVESTIGATION_EVENTS, &[&id, &events]).map_err(pg(&ctx))?;
        }
        tx.commit().map_err(pg(&ctx))?;
        Ok(Some(id))
    }

    fn complete_investigation(
        &mut self,
        profile: &Profile,
        id: i64,
        malicious: &[i64],
    ) -> Result<(), StoreError> {
        let ids = self.writable(profile)?;
        let ctx = format!("completing investigation {id} of profile '{}'", profile.name);
        let mut tx = self.client.transaction().map_err(pg(&ctx))?;
        if !malicious.is_empty() {
            tx.execute(INSERT_MALICIOUS, &[&id, &malicious]).map_err(pg(&ctx))?;
        }
        tx.execute(COMPLETE_INVESTIGATION, &[&id, &ids.profile]).map_err(pg(&ctx))?;
        tx.commit().map_err(pg(&ctx))
    }

    fn actor(&mut self, profile: &Profile, name: &str) -> Result<Option<ActorView>, StoreError> {
        let ctx = format!("reading actor '{name}' of profile '{}'", profile.name);
        let Some(ids) = self.ids(profile, false)? else { return Ok(None) };
        let Some(row) =
            self.client.query_opt(SELECT_ACTOR, &[&ids.profile, &name]).map_err(pg(&ctx))?
        else {
            return Ok(None);
        };
        let id: i64 = col(&row, 0, &ctx)?;
        let first_seen = time(&row, 1, &ctx)?;
        // Rows keep their own times; shown like the model holds them, decayed to the latest.
        let mut per: Vec<Vec<(String, f64, i64)>> = vec![Vec::new(); profile.features.len()];
        for row in self.client.query(ACTOR_FEATURES, &[&id]).map_err(pg(&ctx))? {
            if let Some(f) = ids.feature_of(col(&row, 0, &ctx)?) {
                per[f].push((col(&row, 1, &ctx)?, col(&row, 2, &ctx)?, time(&row, 3, &ctx)?));
            }
        }
        let features = profile
            .features
            .iter()
            .zip(per)
            .map(|(feature, rows)| {
                let latest = rows.iter().map(|r| r.2).max().unwrap_or(0);
                let mut values: Vec<(String, f64)> = rows
                    .into_iter()
                    .map(|(v, c, t)| (v, decayed(c, t, latest, profile.half_life_us)))
                    .collect();
                values.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                (feature.name.clone(), values)
            })
            .collect();
        let row = self.client.query_one(ACTOR_EVENTS, &[&id]).map_err(pg(&ctx))?;
        Ok(Some(ActorView {
            id,
            name: name.to_string(),
            first_seen,
            features,
            events: count(col(&row, 0, &ctx)?),
            anomalies: count(col(&row, 1, &ctx)?),
        }))
    }

    fn counts(&mut self, profile: &Profile) -> Result<Counts, StoreError> {
        let ctx = format!("counting rows of profile '{}'", profile.name);
        let Some(ids) = self.ids(profile, false)? else { return Ok(Counts::default()) };
        let row = self.client.query_one(COUNTS, &[&ids.profile]).map_err(pg(&ctx))?;
        Ok(Counts {
            actors: count(col(&row, 0, &ctx)?),
            features: count(col(&row, 1, &ctx)?),
            messages: count(col(&row, 2, &ctx)?),
            events: count(col(&row, 3, &ctx)?),
            anomalies: count(col(&row, 4, &ctx)?),
            investigations: count(col(&row, 5, &ctx)?),
        })
    }
}
