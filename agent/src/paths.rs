//! Which files a store step takes and the paths they are listed under (DESIGN: Artifact paths).

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};

use crate::domain::PrettyPath;

/// One local file to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    pub local: PathBuf,
    /// The `path` field: where the file was on this machine, or the pretty path (v2 style).
    pub path: String,
    pub pretty_path: String,
}

/// Lexically resolves `.` and `..` against `base` (no symlinks followed).
pub fn absolutize(base: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s),
            _ => {}
        }
    }
    out
}

/// `~/x` → `$HOME/x`, as CircleCI configs write paths.
pub fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ if p == "~" => std::env::var_os("HOME").map_or_else(|| p.into(), PathBuf::from),
        _ => PathBuf::from(p),
    }
}

fn utf8(p: &Path) -> anyhow::Result<&str> {
    p.to_str().with_context(|| format!("{} is not a UTF-8 file name", p.display()))
}

/// The prefix when no destination is given: the path as written, without its leading `/`
/// (`/tmp/artifacts` → `tmp/artifacts`); a relative path that climbs out with `..` uses its
/// absolute form instead.
fn default_prefix(given: &Path, absolute: &Path) -> anyhow::Result<String> {
    let lexical: Vec<String> = given
        .components()
        .filter(|c| !matches!(c, Component::CurDir | Component::RootDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let prefix = if given.is_relative() && !lexical.iter().any(|s| s == "..") {
        lexical.join("/")
    } else {
        utf8(absolute)?.trim_start_matches('/').to_owned()
    };
    Ok(prefix)
}

fn join_pretty(prefix: &str, rel: &str) -> String {
    if prefix.is_empty() { rel.to_owned() } else { format!("{prefix}/{rel}") }
}

/// Files of a directory, recursively, sorted, as `(path to read, relative '/'-joined path)`.
/// A symbolic link is stored as its target only when the target is a file inside `dir`
/// (read through its resolved path); a link out of the directory is skipped with a warning,
/// so a build cannot publish `~/.ssh/id_rsa` by linking to it. Links to directories are not
/// followed (they can loop).
pub fn walk(dir: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    let root = std::fs::canonicalize(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in walkdir::WalkDir::new(dir).follow_links(false).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let rel = entry.path().strip_prefix(dir).expect("walkdir stays under its root");
        let rel = utf8(rel)?.replace(std::path::MAIN_SEPARATOR, "/");
        let read_from = if entry.file_type().is_file() {
            entry.path().to_path_buf()
        } else if entry.file_type().is_symlink() {
            match std::fs::canonicalize(entry.path()) {
                Ok(target) if target.starts_with(&root) && target.is_file() => target,
                Ok(target) if !target.starts_with(&root) => {
                    eprintln!(
                        "vitrine: {rel}: not stored: a symbolic link to {}, outside {}",
                        target.display(),
                        dir.display()
                    );
                    continue;
                }
                _ => continue, // a link to a directory, or a dangling one
            }
        } else {
            continue;
        };
        files.push((read_from, rel));
    }
    Ok(files)
}

/// The `store_artifacts` step: `path` (a file or directory, relative to `cwd`) and an
/// optional `destination` prefix.
pub fn store_step_files(cwd: &Path, path: &str, destination: Option<&str>) -> anyhow::Result<Vec<LocalFile>> {
    if path.trim().is_empty() {
        bail!("store_artifacts needs a path (the file or directory to store)");
    }
    let given = expand_home(path);
    let local = absolutize(cwd, &given);
    let destination = match destination.map(|d| d.trim_matches('/')).filter(|d| !d.is_empty()) {
        Some(d) => {
            let checked: PrettyPath = d
                .parse()
                .map_err(|e: crate::domain::InvalidInput| anyhow::anyhow!("invalid destination `{d}`: {e}"))?;
            Some(String::from(checked))
        }
        None => None,
    };
    let meta = std::fs::metadata(&local).with_context(|| format!("cannot store {path}: no such file or directory"))?;
    let prefix = match destination {
        Some(d) => d,
        None => default_prefix(&given, &local)?,
    };
    let files = if meta.is_dir() {
        walk(&local)?
            .into_iter()
            .map(|(abs, rel)| {
                let pretty = join_pretty(&prefix, &rel);
                LocalFile { local: abs, path: pretty.clone(), pretty_path: pretty }
            })
            .collect()
    } else {
        if prefix.is_empty() {
            bail!("cannot store {path}: give a destination for it");
        }
        vec![LocalFile { local, path: prefix.clone(), pretty_path: prefix }]
    };
    Ok(files)
}

/// The files of a `$CIRCLE_ARTIFACTS` directory: listed as `$CIRCLE_ARTIFACTS/<relative>`
/// (the dollar sign included), with `path` the file's absolute path.
pub fn circle_artifacts_files(dir: &Path) -> anyhow::Result<Vec<LocalFile>> {
    Ok(walk(dir)?
        .into_iter()
        .map(|(abs, rel)| LocalFile {
            path: abs.to_string_lossy().into_owned(),
            local: abs,
            pretty_path: format!("$CIRCLE_ARTIFACTS/{rel}"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pretty(files: &[LocalFile]) -> Vec<&str> {
        files.iter().map(|f| f.pretty_path.as_str()).collect()
    }

    #[test]
    fn path_and_destination_semantics() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("out/sub")).unwrap();
        std::fs::write(root.join("out/a.txt"), "a").unwrap();
        std::fs::write(root.join("out/sub/b.png"), "b").unwrap();
        std::fs::write(root.join("single.log"), "c").unwrap();

        // A directory without destination: the path as written is the prefix.
        assert_eq!(pretty(&store_step_files(root, "out", None).unwrap()), ["out/a.txt", "out/sub/b.png"]);
        assert_eq!(pretty(&store_step_files(root, "./out/", None).unwrap()), ["out/a.txt", "out/sub/b.png"]);
        // An absolute path loses its leading slash.
        let abs = root.join("out");
        let expected = format!("{}/a.txt", abs.to_str().unwrap().trim_start_matches('/'));
        assert_eq!(store_step_files(root, abs.to_str().unwrap(), None).unwrap()[0].pretty_path, expected);
        // With a destination: a file is stored as the destination, a directory under it.
        assert_eq!(pretty(&store_step_files(root, "single.log", Some("logs/build.log")).unwrap()), ["logs/build.log"]);
        assert_eq!(
            pretty(&store_step_files(root, "out", Some("report")).unwrap()),
            ["report/a.txt", "report/sub/b.png"]
        );
        // v2 style: path = pretty_path.
        let f = &store_step_files(root, "single.log", None).unwrap()[0];
        assert_eq!(f.path, f.pretty_path);
    }

    #[test]
    fn links_are_stored_only_when_they_stay_inside_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, outside) = (tmp.path().join("artifacts"), tmp.path().join("secret.txt"));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/report.txt"), "report").unwrap();
        std::fs::write(&outside, "secret").unwrap();
        std::os::unix::fs::symlink(dir.join("sub/report.txt"), dir.join("latest.txt")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("leak.txt")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", dir.join("sub/relative-leak.txt")).unwrap();
        std::os::unix::fs::symlink(&dir, dir.join("loop")).unwrap();
        let files = walk(&dir).unwrap();
        let rels: Vec<&str> = files.iter().map(|(_, rel)| rel.as_str()).collect();
        assert_eq!(rels, ["latest.txt", "sub/report.txt"]);
        let root = std::fs::canonicalize(&dir).unwrap();
        assert!(files.iter().all(|(read, _)| read.starts_with(&root)), "{files:?}");
    }

    #[test]
    fn bad_destinations_and_missing_paths_are_refused_clearly() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), "x").unwrap();
        let err = store_step_files(tmp.path(), "f", Some("../escape")).unwrap_err().to_string();
        assert!(err.contains("invalid destination"), "{err}");
        let err = store_step_files(tmp.path(), "missing", None).unwrap_err().to_string();
        assert!(err.contains("no such file or directory"), "{err}");
        assert!(store_step_files(tmp.path(), "", None).is_err());
    }

    #[test]
    fn circle_artifacts_keep_the_literal_variable() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        std::fs::write(tmp.path().join("d/hello.txt"), "hi").unwrap();
        let files = circle_artifacts_files(tmp.path()).unwrap();
        assert_eq!(pretty(&files), ["$CIRCLE_ARTIFACTS/d/hello.txt"]);
        assert!(files[0].path.starts_with('/'));
    }
}
