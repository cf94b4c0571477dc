//! What the Hugging Face cache holds (`brisk ls`: repository, file, quant, size, last use) and
//! taking models out of it (`brisk rm`: the snapshot links go, then every blob no snapshot
//! still links to).
use super::cache::Cache;
use super::pick::{self, quant_of, split_part, RepoRef};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One model in the cache: a GGUF file (all parts of a split one) or a checkpoint.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Entry {
    pub repo: String,
    /// The file to load (part 1 of a split model), or the checkpoint directory's name.
    pub file: String,
    pub files: Vec<String>,
    pub quant: Option<String>,
    pub size: u64,
    /// Seconds since the Unix epoch of the latest access.
    pub last_used: Option<u64>,
    pub commit: String,
    /// The branches or tags that point at this commit.
    pub refs: Vec<String>,
    pub path: PathBuf,
}

/// Every model in the cache, sorted by repository and file.
pub fn list(cache: &Cache) -> Vec<Entry> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(&cache.root) else {
        return out;
    };
    let mut repos: Vec<String> = dirs
        .flatten()
        .filter_map(|d| d.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_prefix("models--").map(|r| r.replacen("--", "/", 1)))
        .collect();
    repos.sort();
    for repo in repos {
        let refs = refs_by_commit(cache, &repo);
        for commit in snapshots(cache, &repo) {
            let files = cache.snapshot_files(&repo, &commit);
            let snapshot = cache.snapshot(&repo, &commit);
            let names = |c: &str| refs.get(c).cloned().unwrap_or_default();
            let ggufs: Vec<&String> = files.iter().filter(|f| f.ends_with(".gguf")).collect();
            let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for f in &ggufs {
                let key = split_part(f).map_or(f.to_string(), |(b, _, _)| b.to_string());
                groups.entry(key).or_default().push(f.to_string());
            }
            for (_, parts) in groups {
                let (size, used) = usage(&snapshot, &parts);
                out.push(Entry {
                    repo: repo.clone(),
                    file: parts[0].clone(),
                    quant: quant_of(&parts[0]),
                    path: snapshot.join(&parts[0]),
                    files: parts,
                    size,
                    last_used: used,
                    commit: commit.clone(),
                    refs: names(&commit),
                });
            }
            if ggufs.is_empty() && !files.is_empty() {
                let (size, used) = usage(&snapshot, &files);
                out.push(Entry {
                    repo: repo.clone(),
                    file: "(checkpoint)".to_string(),
                    files,
                    quant: None,
                    size,
                    last_used: used,
                    commit: commit.clone(),
                    refs: names(&commit),
                    path: snapshot,
                });
            }
        }
    }
    out
}

fn snapshots(cache: &Cache, repo: &str) -> Vec<String> {
    let dir = cache.repo_dir(repo).join("snapshots");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

fn refs_by_commit(cache: &Cache, repo: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let dir = cache.repo_dir(repo).join("refs");
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(commit) = cache.commit_of(repo, &name) {
            map.entry(commit).or_default().push(name);
        }
    }
    map
}

/// Total size and latest access of some snapshot files (through their links).
fn usage(snapshot: &Path, files: &[String]) -> (u64, Option<u64>) {
    let mut size = 0;
    let mut used: Option<u64> = None;
    for f in files {
        if let Ok(m) = std::fs::metadata(snapshot.join(f)) {
            size += m.len();
            let t = m
                .accessed()
                .ok()
                .max(m.modified().ok())
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs());
            used = used.max(t);
        }
    }
    (size, used)
}

/// What `remove` took out.
pub struct Removed {
    pub files: usize,
    pub freed: u64,
}

/// Remove `r` from the cache: the whole repository when it names no quant or file, else the
/// files it selects in every snapshot; then every blob no remaining link uses.
pub fn remove(cache: &Cache, r: &RepoRef) -> Result<Removed> {
    let dir = cache.repo_dir(&r.repo);
    if !dir.is_dir() {
        bail!("{} is not in the cache ({})", r.repo, cache.root.display());
    }
    let whole = r.quant.is_none() && r.file.is_none();
    let mut removed = 0;
    for commit in snapshots(cache, &r.repo) {
        let files = cache.snapshot_files(&r.repo, &commit);
        let chosen: Vec<String> = if whole {
            files
        } else {
            match pick::select(r, &files) {
                Ok(s) => s.files().to_vec(),
                Err(_) => continue,
            }
        };
        let snapshot = cache.snapshot(&r.repo, &commit);
        for f in chosen {
            if std::fs::remove_file(snapshot.join(&f)).is_ok() {
                removed += 1;
            }
        }
        prune_empty(&snapshot);
    }
    if removed == 0 {
        bail!("the cache has no {} files matching that", r.repo);
    }
    let freed = collect_garbage(cache, &r.repo, whole)?;
    Ok(Removed {
        files: removed,
        freed,
    })
}

/// Delete the blobs no snapshot links to, refs to vanished snapshots, and the repository
/// folder once nothing is left in it. Returns the bytes freed.
fn collect_garbage(cache: &Cache, repo: &str, whole: bool) -> Result<u64> {
    let dir = cache.repo_dir(repo);
    let mut used = BTreeSet::new();
    for commit in snapshots(cache, repo) {
        let snapshot = cache.snapshot(repo, &commit);
        for f in cache.snapshot_files(repo, &commit) {
            if let Ok(target) = std::fs::canonicalize(snapshot.join(&f)) {
                used.insert(target);
            }
        }
    }
    let mut freed = 0;
    for e in std::fs::read_dir(dir.join("blobs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let partial = name.ends_with(".incomplete") || name.ends_with(".lock");
        let keep = match std::fs::canonicalize(&path) {
            Ok(p) => used.contains(&p) || (partial && !whole),
            Err(_) => false,
        };
        if !keep {
            freed += e.metadata().map(|m| m.len()).unwrap_or(0);
            std::fs::remove_file(&path).ok();
        }
    }
    for (commit, names) in refs_by_commit(cache, repo) {
        if !cache.snapshot(repo, &commit).is_dir() {
            for n in names {
                std::fs::remove_file(dir.join("refs").join(n)).ok();
            }
        }
    }
    if snapshots(cache, repo).is_empty() {
        std::fs::remove_dir_all(&dir).ok();
    }
    Ok(freed)
}

/// Remove empty folders from `dir` down, `dir` included.
fn prune_empty(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            prune_empty(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir); // fails, as it should, when not empty
}
