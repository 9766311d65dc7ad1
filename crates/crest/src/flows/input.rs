//! Finding, opening and reading flow logs: directories walked, formats sniffed, compression
//! undone, files read in time order on a thread of their own.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use anyhow::{Context, anyhow, bail};
use crest_flows::flow::{DnsQuery, Flow};
use crest_flows::read::{Format, ReadError, ReadOptions, ReadStats, read_dns, read_flows, sniff};
use crest_sources::Progress;

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// Flow records in this format.
    Flows(Format),
    /// Zeek `dns.log` queries.
    Dns,
}

/// One file to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FlowFile {
    /// Its path.
    pub(crate) path: PathBuf,
    /// What it holds (`None`: sniff it when opened).
    pub(crate) content: Option<Content>,
    /// Whether it is a Zeek `open_conn` log (connections still open when it was written).
    pub(crate) open: bool,
}

/// The inputs as the user named them, per format.
#[derive(Clone, Debug, Default)]
pub(crate) struct Named {
    /// Zeek logs: files or directories (walked for conn/open_conn/dns logs).
    pub(crate) zeek: Vec<PathBuf>,
    /// Seed-analyzer CSV files.
    pub(crate) csv: Vec<PathBuf>,
    /// Suricata eve.json files.
    pub(crate) suricata: Vec<PathBuf>,
    /// Argus binetflow files.
    pub(crate) argus: Vec<PathBuf>,
    /// NetFlow/IPFIX export files.
    pub(crate) netflow: Vec<PathBuf>,
    /// Files or directories of any format, sniffed.
    pub(crate) any: Vec<PathBuf>,
}

/// Whether a file name in a Zeek directory is a log crest reads, and which.
fn zeek_log_kind(name: &str) -> Option<(Content, bool)> {
    let logish = name.contains(".log") || name.ends_with(".json");
    if !logish {
        return None;
    }
    if name.starts_with("open_conn") {
        Some((Content::Flows(Format::Zeek), true))
    } else if name.starts_with("conn") {
        Some((Content::Flows(Format::Zeek), false))
    } else if name.starts_with("dns") {
        Some((Content::Dns, false))
    } else {
        None
    }
}

/// The order files are read in: by folder, then by name with `open_` ignored (so each hour's
/// `open_conn` log follows its `conn` log), so hourly-rotated folders are read in time order.
fn order_key(path: &Path) -> (PathBuf, String, bool) {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let open = name.starts_with("open_");
    (dir, name.trim_start_matches("open_").to_string(), open)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot list", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("{}: cannot list", dir.display()))?;
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Resolves the named inputs into files, in reading order.
pub(crate) fn discover(named: &Named) -> anyhow::Result<Vec<FlowFile>> {
    let mut files = Vec::new();
    let mut add_dir_or_file = |path: &PathBuf, forced: Option<Format>| -> anyhow::Result<()> {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort_by_key(|p| order_key(p));
            let before = files.len();
            for p in found {
                let name =
                    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if let Some((content, open)) = zeek_log_kind(&name) {
                    let content = match (forced, content) {
                        (Some(f), Content::Flows(_)) => Content::Flows(f),
                        (_, c) => c,
                    };
                    files.push(FlowFile { path: p, content: Some(content), open });
                }
            }
            if files.len() == before {
                bail!("{}: no conn, open_conn or dns logs in this directory", path.display());
            }
        } else if path.is_file() {
            let name =
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let open = name.starts_with("open_conn");
            let content = match forced {
                Some(Format::Zeek) if name.starts_with("dns") => Some(Content::Dns),
                Some(f) => Some(Content::Flows(f)),
                None if name.starts_with("dns") => Some(Content::Dns),
                None => None,
            };
            files.push(FlowFile { path: path.clone(), content, open });
        } else {
            bail!("{}: no such file or directory", path.display());
        }
        Ok(())
    };
    for p in &named.zeek {
        add_dir_or_file(p, Some(Format::Zeek))?;
    }
    for p in &named.any {
        add_dir_or_file(p, None)?;
    }
    for (paths, format) in [
        (&named.csv, Format::SeedCsv),
        (&named.suricata, Format::Suricata),
        (&named.argus, Format::Argus),
        (&named.netflow, Format::NetFlow),
    ] {
        for p in paths {
            if !p.is_file() {
                bail!("{}: no such file", p.display());
            }
            files.push(FlowFile {
                path: p.clone(),
                content: Some(Content::Flows(format)),
                open: false,
            });
        }
    }
    if files.is_empty() {
        bail!(
            "no input: name flow logs (positional, --zeek, --csv, --suricata, --argus, --netflow)"
        );
    }
    Ok(files)
}

/// Counts compressed bytes for the progress display as they are read.
struct Counting<R> {
    inner: R,
    progress: Arc<Progress>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n as u64, 0);
        Ok(n)
    }
}

/// Opens `path`, undoing gzip or zstd (recognised by their magic bytes).
pub(crate) fn open(
    path: &Path,
    progress: Arc<Progress>,
) -> anyhow::Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut raw = BufReader::with_capacity(1 << 17, Counting { inner: file, progress });
    let head = raw.fill_buf().with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(1 << 17, flate2::read::MultiGzDecoder::new(raw)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let dec = zstd::stream::read::Decoder::with_buffer(raw)
            .with_context(|| format!("{}: cannot start zstd", path.display()))?;
        Box::new(BufReader::with_capacity(1 << 17, dec))
    } else {
        Box::new(raw)
    })
}

/// What a reading thread sends: batches of flows or queries, in file order.
pub(crate) enum Batch {
    /// Flows.
    Flows(Vec<Flow>),
    /// DNS queries.
    Dns(Vec<DnsQuery>),
}

/// How many flows (or DNS queries) go in one batch between the reading thread and the
/// analysis.
const BATCH: usize = 8192;

/// Totals of a finished read.
#[derive(Debug, Default)]
pub(crate) struct ReadTotals {
    /// Flow rows read.
    pub(crate) flows: u64,
    /// DNS queries read.
    pub(crate) dns: u64,
    /// Rows skipped (with `--skip-invalid`).
    pub(crate) skipped: u64,
    /// The first skipped row's message.
    pub(crate) first_skipped: Option<String>,
    /// Files read.
    pub(crate) files: usize,
    /// Events of other kinds passed over (Suricata alerts, dns, http…).
    pub(crate) other_events: u64,
}

/// Reads `files` in order on a thread of its own; batches arrive on the returned channel, and
/// the thread's result (totals, or the first error) when it is joined.
pub(crate) fn spawn_reader(
    files: Vec<FlowFile>,
    options: ReadOptions,
    progress: Arc<Progress>,
) -> (Receiver<Batch>, std::thread::JoinHandle<anyhow::Result<ReadTotals>>) {
    let (tx, rx) = sync_channel::<Batch>(8);
    let handle = std::thread::spawn(move || {
        let mut totals = ReadTotals::default();
        for file in &files {
            let name = file.path.display().to_string();
            let mut reader = open(&file.path, Arc::clone(&progress))?;
            let content = match file.content {
                Some(c) => c,
                None => {
                    let head = reader.fill_buf().with_context(|| format!("{name}: cannot read"))?;
                    match sniff(&name, head) {
                        Some(f) => Content::Flows(f),
                        None => bail!(
                            "{name}: cannot tell the format; name it with --zeek, --csv, --suricata, --argus or --netflow"
                        ),
                    }
                }
            };
            let stats = match content {
                Content::Flows(format) => {
                    let mut batch = Vec::with_capacity(BATCH);
                    let mut closed = false;
                    let open_conn = file.open;
                    let counter = Arc::clone(&progress);
                    let stats =
                        read_flows(reader, &name, format, &options, &mut |mut flow: Flow| {
                            flow.open |= open_conn;
                            batch.push(flow);
                            if batch.len() == BATCH {
                                counter.add(0, BATCH as u64);
                                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                                closed |= tx.send(Batch::Flows(full)).is_err();
                            }
                        });
                    if closed {
                        return Ok(totals);
                    }
                    let stats = stats.map_err(|e| error(e, &name))?;
                    progress.add(0, batch.len() as u64);
                    if !batch.is_empty() && tx.send(Batch::Flows(batch)).is_err() {
                        return Ok(totals);
                    }
                    totals.flows += stats.rows;
                    stats
                }
                Content::Dns => {
                    let mut batch = Vec::with_capacity(BATCH);
                    let mut closed = false;
                    let stats = read_dns(reader, &name, &options, &mut |q| {
                        batch.push(q);
                        if batch.len() == BATCH {
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                            closed |= tx.send(Batch::Dns(full)).is_err();
                        }
                    });
                    if closed {
                        return Ok(totals);
                    }
                    let stats = stats.map_err(|e| error(e, &name))?;
                    if !batch.is_empty() && tx.send(Batch::Dns(batch)).is_err() {
                        return Ok(totals);
                    }
                    totals.dns += stats.rows;
                    stats
                }
            };
            absorb(&mut totals, &stats);
            totals.files += 1;
        }
        Ok(totals)
    });
    (rx, handle)
}

fn absorb(totals: &mut ReadTotals, stats: &ReadStats) {
    totals.skipped += stats.skipped;
    totals.other_events += stats.other_events;
    if totals.first_skipped.is_none() {
        totals.first_skipped.clone_from(&stats.first_skipped);
    }
}

fn error(e: ReadError, name: &str) -> anyhow::Error {
    let text = e.to_string();
    if text.contains(name) { anyhow!(text) } else { anyhow!("{name}: {text}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_folders_read_in_time_order() {
        let mut paths: Vec<PathBuf> = [
            "d/2024-04-20/open_conn.00.log.gz",
            "d/2024-04-19/conn.01.log.gz",
            "d/2024-04-19/open_conn.00.log.gz",
            "d/2024-04-19/conn.00.log.gz",
            "d/2024-04-20/conn.00.log.gz",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        paths.sort_by_key(|p| order_key(p));
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "d/2024-04-19/conn.00.log.gz",
                "d/2024-04-19/open_conn.00.log.gz",
                "d/2024-04-19/conn.01.log.gz",
                "d/2024-04-20/conn.00.log.gz",
                "d/2024-04-20/open_conn.00.log.gz",
            ]
        );
    }

    #[test]
    fn zeek_folder_names() {
        assert_eq!(zeek_log_kind("conn.log.labeled"), Some((Content::Flows(Format::Zeek), false)));
        assert_eq!(
            zeek_log_kind("open_conn.03.log.gz"),
            Some((Content::Flows(Format::Zeek), true))
        );
        assert_eq!(zeek_log_kind("dns.12:00:00-13:00:00.log.gz"), Some((Content::Dns, false)));
        assert_eq!(zeek_log_kind("http.log"), None);
        assert_eq!(zeek_log_kind("README.md"), None);
    }
}
