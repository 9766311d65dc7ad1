//! `crest run`'s HTTP server: health, Prometheus metrics, the findings and pipelines API, and
//! the dashboard, on a thread of its own.
//!
//! It binds to what `service.listen` says (127.0.0.1 in the example). On any address other
//! than a loopback one a token is required: every request but `/health` and the dashboard's
//! page must carry `Authorization: Bearer TOKEN` (the dashboard reads the token from its
//! address, `/#token=…`, and sends it with each call).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use anyhow::Context;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use crest_run::{Finding, Severity};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Shared, now_us};
use crate::Failure;

/// The running server.
pub(crate) struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Clone)]
struct Ctx {
    shared: Arc<Shared>,
    token: Option<Arc<str>>,
}

impl Server {
    /// Binds `addr` and serves on a thread; an address that is not loopback needs a token.
    pub(crate) fn start(
        addr: &str,
        token: Option<String>,
        shared: Arc<Shared>,
    ) -> Result<Server, Failure> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| Failure::Usage(format!("service.listen: cannot listen on {addr}: {e}")))?;
        let addr = listener.local_addr().context("cannot read the listening address")?;
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(Failure::Usage(format!(
                "service.listen: {addr} is not a loopback address, so the API needs a token: \
                 set service.token_env to the name of a variable that holds it"
            )));
        }
        listener.set_nonblocking(true).context("cannot set up the listener")?;
        let ctx = Ctx { shared, token: token.map(Arc::from) };
        // Everything but the page and the health check needs the token, when there is one.
        let guarded = Router::new()
            .route("/metrics", get(metrics))
            .route("/api/findings", get(findings))
            .route("/api/pipelines", get(pipelines))
            .route("/api/series", get(series))
            .route("/api/peaks", get(peaks))
            .route("/api/peaks/global_table", get(global_table))
            .route_layer(middleware::from_fn_with_state(ctx.clone(), require_token));
        let app = Router::new()
            .route("/", get(dashboard))
            .route("/health", get(health))
            .merge(guarded)
            .with_state(ctx);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the HTTP runtime")?;
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("http: {e}");
                            return;
                        }
                    };
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                        let _ = rx.await;
                    });
                    if let Err(e) = serve.await {
                        tracing::error!("http: {e}");
                    }
                });
            })
            .context("cannot start the HTTP thread")?;
        Ok(Server { addr, shutdown: Some(tx), thread: Some(thread) })
    }

    /// Stops serving (requests in flight finish).
    pub(crate) fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Lets a request on when no token is set or it carries the token; refuses it otherwise.
async fn require_token(State(ctx): State<Ctx>, request: Request, next: Next) -> Response {
    if let Some(token) = ctx.token.as_deref() {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a token is required: Authorization: Bearer TOKEN\n",
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// A query string read into `T`; one that does not read is a 400 with a JSON error.
struct Params<T>(T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(Params(q)),
            Err(e) => Err(bad_request(format!("unreadable query: {}", e.body_text()))),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn dashboard() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}

async fn health(State(ctx): State<Ctx>) -> Response {
    let s = &ctx.shared;
    let checkpoint = s.checkpoint_us.load(Ordering::Relaxed);
    Json(serde_json::json!({
        "status": "ok",
        "uptime_s": s.started.elapsed().as_secs_f64(),
        "checkpoint_age_s": age_s(checkpoint),
        "errors": s.errors.load(Ordering::Relaxed),
    }))
    .into_response()
}

fn age_s(us: i64) -> Option<f64> {
    (us > 0).then(|| (now_us() - us) as f64 / 1e6)
}

/// A label value as Prometheus' text format writes it.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

async fn metrics(State(ctx): State<Ctx>) -> Response {
    let s = &ctx.shared;
    let mut m = String::new();
    let family = |m: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(&mut m, "crest_uptime_seconds", "gauge", "Seconds since the service started.");
    let _ = writeln!(m, "crest_uptime_seconds {}", s.started.elapsed().as_secs_f64());
    family(&mut m, "crest_resident_memory_bytes", "gauge", "Resident memory of the process.");
    let _ = writeln!(m, "crest_resident_memory_bytes {}", crate::logging::resident_bytes());
    family(&mut m, "crest_events_total", "counter", "Events read from all sources.");
    let _ = writeln!(m, "crest_events_total {}", s.events.load(Ordering::Relaxed));
    family(&mut m, "crest_source_events_total", "counter", "Events read, per source.");
    for (name, n) in &s.source_events {
        let _ = writeln!(
            m,
            "crest_source_events_total{{source=\"{}\"}} {}",
            label(name),
            n.load(Ordering::Relaxed)
        );
    }
    family(&mut m, "crest_invalid_events_total", "counter", "Lines skipped: not JSON objects.");
    let _ = writeln!(m, "crest_invalid_events_total {}", s.invalid.load(Ordering::Relaxed));
    family(&mut m, "crest_errors_total", "counter", "Source and sink errors.");
    let _ = writeln!(m, "crest_errors_total {}", s.errors.load(Ordering::Relaxed));
    family(&mut m, "crest_checkpoint_age_seconds", "gauge", "Seconds since the last checkpoint.");
    let age = age_s(s.checkpoint_us.load(Ordering::Relaxed)).unwrap_or(f64::NAN);
    let _ = writeln!(m, "crest_checkpoint_age_seconds {age}");
    let pipelines = s.pipelines.lock().map(|p| p.clone()).unwrap_or_default();
    type Read = fn(&crest_run::series::Counters) -> u64;
    let per_pipeline: [(&str, &str, &str, Read); 5] = [
        ("crest_pipeline_events_total", "counter", "Events given to a pipeline.", |c| c.events),
        ("crest_pipeline_used_events_total", "counter", "Events a pipeline counted.", |c| c.used),
        ("crest_pipeline_late_events_total", "counter", "Events of closed steps.", |c| c.late),
        (
            "crest_pipeline_unusable_events_total",
            "counter",
            "Events without a time, key or value, or beyond max_keys.",
            |c| c.no_time + c.no_key + c.no_value + c.over_max_keys,
        ),
        ("crest_findings_total", "counter", "Findings reported, per pipeline.", |c| c.findings),
    ];
    for (name, kind, help, get) in per_pipeline {
        family(&mut m, name, kind, help);
        for p in &pipelines {
            let _ = writeln!(
                m,
                "{name}{{pipeline=\"{}\",detector=\"{}\"}} {}",
                label(&p.name),
                p.detector,
                get(&p.counters)
            );
        }
    }
    family(&mut m, "crest_pipeline_series", "gauge", "Series (keys) a pipeline keeps.");
    for p in &pipelines {
        let _ =
            writeln!(m, "crest_pipeline_series{{pipeline=\"{}\"}} {}", label(&p.name), p.series);
    }
    family(
        &mut m,
        "crest_pipeline_lag_seconds",
        "gauge",
        "Seconds between now and the newest event time a pipeline has seen.",
    );
    for p in &pipelines {
        if let Some(t) = p.newest_us {
            let lag = (now_us() - t) as f64 / 1e6;
            let _ =
                writeln!(m, "crest_pipeline_lag_seconds{{pipeline=\"{}\"}} {lag}", label(&p.name));
        }
    }
    family(&mut m, "crest_sink_findings_total", "counter", "Findings sent to a sink.");
    for (name, sent, _) in &s.sinks {
        let _ = writeln!(
            m,
            "crest_sink_findings_total{{sink=\"{}\"}} {}",
            label(name),
            sent.load(Ordering::Relaxed)
        );
    }
    family(&mut m, "crest_sink_failures_total", "counter", "Findings a sink could not deliver.");
    for (name, _, failed) in &s.sinks {
        let _ = writeln!(
            m,
            "crest_sink_failures_total{{sink=\"{}\"}} {}",
            label(name),
            failed.load(Ordering::Relaxed)
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], m).into_response()
}

/// `GET /api/findings` filters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FindingQuery {
    /// From this time (RFC 3339 or epoch seconds), inclusive.
    since: Option<String>,
    /// Before this time.
    until: Option<String>,
    pipeline: Option<String>,
    detector: Option<String>,
    /// Findings whose key text (`user=u038`) contains this.
    key: Option<String>,
    /// The least severity.
    severity: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn findings(State(ctx): State<Ctx>, Params(q): Params<FindingQuery>) -> Response {
    let time = |name: &str, v: &Option<String>| -> Result<Option<i64>, String> {
        match v {
            None => Ok(None),
            Some(t) => crest_core::time::parse_instant_text(t)
                .map(Some)
                .ok_or_else(|| format!("{name}: '{t}' is not a time")),
        }
    };
    let (since, until) = match (time("since", &q.since), time("until", &q.until)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return bad_request(e),
    };
    let severity = match q.severity.as_deref().map(|s| Severity::parse(s).ok_or(s)) {
        None => Severity::Low,
        Some(Ok(s)) => s,
        Some(Err(s)) => {
            return bad_request(format!("severity: '{s}' is not low, medium, high or critical"));
        }
    };
    let limit = q.limit.unwrap_or(100).min(1000);
    let offset = q.offset.unwrap_or(0);
    let keep = |f: &&Finding| {
        since.is_none_or(|t| f.time_us >= t)
            && until.is_none_or(|t| f.time_us < t)
            && q.pipeline.as_ref().is_none_or(|p| *p == f.pipeline)
            && q.detector
                .as_ref()
                .is_none_or(|d| f.detector == *d || f.detector.starts_with(&format!("{d}/")))
            && q.key.as_ref().is_none_or(|k| f.key_text().contains(k.as_str()))
            && f.severity >= severity
    };
    let kept = ctx.shared.findings.lock().unwrap_or_else(|e| e.into_inner());
    // Newest first: by time, then id, so that pages are stable.
    let mut matched: Vec<&Finding> = kept.iter().filter(keep).collect();
    matched.sort_by(|a, b| b.time_us.cmp(&a.time_us).then_with(|| a.id.cmp(&b.id)));
    let total = matched.len();
    let page: Vec<&Finding> = matched.into_iter().skip(offset).take(limit).collect();
    Json(serde_json::json!({ "total": total, "offset": offset, "limit": limit, "findings": page }))
        .into_response()
}

async fn pipelines(State(ctx): State<Ctx>) -> Response {
    let p = ctx.shared.pipelines.lock().map(|p| p.clone()).unwrap_or_default();
    Json(serde_json::json!({ "pipelines": p })).into_response()
}

/// `GET /api/series`: the series kept for charts; with `pipeline` and `key`, one series' recent
/// steps (value, band, score) and the pipeline's threshold.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SeriesQuery {
    pipeline: Option<String>,
    key: Option<String>,
}

async fn series(State(ctx): State<Ctx>, Params(q): Params<SeriesQuery>) -> Response {
    let history = ctx.shared.history.lock().unwrap_or_else(|e| e.into_inner());
    match (q.pipeline, q.key) {
        (Some(p), Some(k)) => {
            let points: Vec<serde_json::Value> = history
                .points(&p, &k)
                .into_iter()
                .map(|pt| {
                    serde_json::json!({
                        "time": crest_run::series::rfc3339(pt.time_us),
                        "time_us": pt.time_us,
                        "value": pt.value,
                        "lower": pt.lower,
                        "upper": pt.upper,
                        "score": pt.score,
                    })
                })
                .collect();
            let threshold = ctx.shared.thresholds.get(&p).copied();
            Json(serde_json::json!({
                "pipeline": p, "key": k, "threshold": threshold, "points": points
            }))
            .into_response()
        }
        (p, _) => {
            let list: Vec<serde_json::Value> = history
                .list()
                .into_iter()
                .filter(|(name, ..)| p.as_ref().is_none_or(|p| p == name))
                .take(1000)
                .map(|(pipeline, key, points, newest)| {
                    serde_json::json!({
                        "pipeline": pipeline, "key": key, "points": points,
                        "newest": crest_run::series::rfc3339(newest),
                    })
                })
                .collect();
            Json(serde_json::json!({ "series": list })).into_response()
        }
    }
}

/// `GET /api/peaks`: each peaks pipeline's open window and every pair's counts in it against
/// its baseline (mean and most submissions per window, threshold); `pipeline` picks one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PeaksQuery {
    pipeline: Option<String>,
}

async fn peaks(State(ctx): State<Ctx>, Params(q): Params<PeaksQuery>) -> Response {
    let peaks = ctx.shared.peaks.lock().unwrap_or_else(|e| e.into_inner());
    let list: Vec<serde_json::Value> = peaks
        .iter()
        .filter(|(name, _)| q.pipeline.as_ref().is_none_or(|p| p == *name))
        .map(|(name, status)| {
            let mut v = serde_json::to_value(status).unwrap_or_default();
            v["pipeline"] = name.as_str().into();
            v
        })
        .collect();
    Json(serde_json::json!({ "peaks": list })).into_response()
}

/// `GET /api/peaks/global_table?pipeline=NAME`: the pipeline's baseline exactly as
/// telemetry-peak-analyzer's `global_table.json` holds it (so `crest peaks -m` or the
/// reference can carry on from it).
async fn global_table(State(ctx): State<Ctx>, Params(q): Params<PeaksQuery>) -> Response {
    let Some(name) = q.pipeline else {
        return bad_request("pipeline: name a peaks pipeline".into());
    };
    let peaks = ctx.shared.peaks.lock().unwrap_or_else(|e| e.into_inner());
    match peaks.get(&name) {
        Some(status) => ([(header::CONTENT_TYPE, "application/json")], status.global_table.clone())
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": format!("no peaks pipeline is named '{name}'") })),
        )
            .into_response(),
    }
}
