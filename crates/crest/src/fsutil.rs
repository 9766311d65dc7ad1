//! Files and folders: writing so that a crash never leaves a half-written file, and crest's
//! data directory.

use std::path::{Path, PathBuf};

use crate::Failure;

use anyhow::Context;

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced, then
/// renamed over the target. A crash leaves either the old file or the new one, never a mix.
/// An existing file's permissions are kept; a new file gets `0644`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_with(path, |tmp| {
        std::fs::write(tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))
    })
}

/// As [`write_atomic`], for a writer that wants a path: `fill` writes the temporary file.
pub(crate) fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The temporary file keeps the target's extension: some writers choose the format by it.
    let suffix = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!(".tmp.{ext}"),
        None => ".tmp".to_string(),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".crest-")
        .suffix(&suffix)
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    fill(tmp.path())?;
    let permissions = match std::fs::metadata(path) {
        Ok(m) => Some(m.permissions()),
        Err(_) => default_permissions(),
    };
    if let Some(p) = permissions {
        std::fs::set_permissions(tmp.path(), p)
            .with_context(|| format!("cannot set permissions on {}", tmp.path().display()))?;
    }
    std::fs::File::open(tmp.path())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(unix)]
fn default_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions() -> Option<std::fs::Permissions> {
    None
}

/// Python's text for an `OSError`: `[Errno 2] No such file or directory: '/path'`.
pub(crate) fn python_os_error(err: &std::io::Error, path: &Path) -> String {
    match err.raw_os_error() {
        Some(code) => {
            let text = std::io::Error::from_raw_os_error(code).to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            format!("[Errno {code}] {text}: '{}'", path.display())
        }
        None => format!("{err}: '{}'", path.display()),
    }
}

/// crest's data directory: `--data-dir`, else `$CREST_DATA_DIR`, else `$XDG_DATA_HOME/crest`,
/// else `$HOME/.local/share/crest` (empty variables, and a relative `XDG_DATA_HOME` as the XDG
/// spec says, are ignored).
pub(crate) fn data_dir(flag: Option<&Path>) -> Result<PathBuf, Failure> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = flag.map(Path::to_path_buf).or_else(|| var("CREST_DATA_DIR")) {
        return Ok(dir);
    }
    if let Some(xdg) = var("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Ok(xdg.join("crest"));
    }
    match var("HOME") {
        Some(home) => Ok(home.join(".local/share/crest")),
        None => Err(Failure::Usage(
            "no data directory: give --data-dir, or set CREST_DATA_DIR or HOME".to_string(),
        )),
    }
}
