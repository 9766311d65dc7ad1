//! Naming inputs: paths, glob patterns and standard input, resolved in a fixed order.

use std::path::{Component, Path, PathBuf};

use crate::error::ReadError;

/// One input to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A file, by absolute path.
    File(PathBuf),
    /// Standard input.
    Stdin,
}

impl Input {
    /// The name used in messages: the absolute path, or `<stdin>`.
    pub fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "<stdin>".to_string(),
        }
    }
}

/// Expands input patterns into inputs: `-` is standard input, anything else a glob pattern
/// (a plain path is a pattern that matches itself). Matches of each pattern are sorted, so
/// runs are reproducible whatever order the directory lists them in. Hidden files match only
/// a pattern that names the dot, as with Python's `glob`.
///
/// A pattern that matches nothing is an error: an empty run because of a typo in a path is
/// worse than a clear message.
pub fn expand(patterns: &[String], cwd: &Path) -> Result<Vec<Input>, ReadError> {
    let mut inputs = Vec::new();
    for pattern in patterns {
        if pattern == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        // Like Python's glob, the argument is always a pattern; only the working directory it
        // is relative to is taken literally.
        let full = if Path::new(pattern).is_absolute() {
            pattern.clone()
        } else {
            let Some(cwd) = cwd.to_str() else {
                return Err(ReadError::Pattern {
                    pattern: pattern.clone(),
                    reason: "the working directory is not valid UTF-8".into(),
                });
            };
            format!("{}/{pattern}", glob::Pattern::escape(cwd))
        };
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let paths = glob::glob_with(&full, options)
            .map_err(|e| ReadError::Pattern { pattern: pattern.clone(), reason: e.to_string() })?;
        let mut matched: Vec<PathBuf> = Vec::new();
        for entry in paths {
            match entry {
                Ok(p) if p.is_file() => matched.push(absolutize(&p, cwd)),
                Ok(_) => {}
                Err(e) => {
                    return Err(ReadError::Io {
                        input: e.path().display().to_string(),
                        source: std::io::Error::new(e.error().kind(), e.error().to_string()),
                    });
                }
            }
        }
        if matched.is_empty() {
            return Err(ReadError::NoMatch { pattern: pattern.clone() });
        }
        matched.sort();
        inputs.extend(matched.into_iter().map(Input::File));
    }
    Ok(inputs)
}

/// Makes `path` absolute against `cwd` and removes `.` and `..` components lexically, as
/// Python's `os.path.abspath` does (symbolic links are not resolved).
pub fn absolutize(path: &Path, cwd: &Path) -> PathBuf {
    let joined = if path.is_absolute() { path.to_path_buf() } else { cwd.join(path) };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if out.parent().is_some() {
                    out.pop();
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolutize_is_lexical() {
        let cwd = Path::new("/work/run");
        assert_eq!(
            absolutize(Path::new("./data/x.json"), cwd),
            PathBuf::from("/work/run/data/x.json")
        );
        assert_eq!(absolutize(Path::new("../a/./b"), cwd), PathBuf::from("/work/a/b"));
        assert_eq!(absolutize(Path::new("/x/../../y"), cwd), PathBuf::from("/y"));
    }

    #[test]
    fn expands_sorted_and_rejects_no_match() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.json", "a.json", ".hidden.json", "c.txt"] {
            std::fs::write(dir.path().join(name), "[]").unwrap();
        }
        let got = expand(&["*.json".into()], dir.path()).unwrap();
        let names: Vec<String> =
            got.iter().map(|i| i.name().rsplit('/').next().unwrap().to_string()).collect();
        assert_eq!(names, ["a.json", "b.json"]);
        let literal = expand(&["c.txt".into()], dir.path()).unwrap();
        assert_eq!(literal.len(), 1);
        assert!(matches!(
            expand(&["nope*.json".into()], dir.path()),
            Err(ReadError::NoMatch { .. })
        ));
        assert!(matches!(
            expand(&["missing.json".into()], dir.path()),
            Err(ReadError::NoMatch { .. })
        ));
        assert_eq!(expand(&["-".into()], dir.path()).unwrap(), [Input::Stdin]);
    }
}
