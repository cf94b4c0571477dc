//! Getting models: a reference — a path, an alias from `models.toml`, or a Hugging Face
//! repository (`user/repo[:QUANT]`) — resolved to local files, downloading what is missing
//! into the shared Hugging Face cache (so Python tools and brisk reuse each other's files).
pub mod aliases;
pub mod cache;
pub mod client;
pub mod download;
pub mod inventory;
pub mod pick;
pub mod progress;

use anyhow::{anyhow, bail, Result};
use cache::{blob_name, check_repo_path, is_commit, Cache};
use client::{Client, HubError, RemoteFile};
use download::{Retry, Wanted};
use pick::{RepoRef, Selection};
use progress::Progress;
use std::path::PathBuf;
use std::time::Duration;

/// The message of an error that a Ctrl-C caused (the command exits 130 on it).
pub const INTERRUPTED: &str = "download interrupted (run the same command again to resume)";

/// Where and how to fetch.
#[derive(Clone, Debug)]
pub struct Hub {
    pub cache: Cache,
    pub endpoint: String,
    pub token: Option<String>,
    pub offline: bool,
    pub stall: Duration,
    pub retry: Retry,
    pub quiet: bool,
}

impl Hub {
    /// Settings from the environment (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`, `HF_HOME`,
    /// `HF_HUB_CACHE`; brisk's `BRISK_HF_STALL_SECS`, `BRISK_HF_RETRIES`,
    /// `BRISK_HF_BACKOFF_MS`), with the command line's token and `--offline` over them.
    pub fn from_env(token: Option<String>, offline: bool, quiet: bool) -> Hub {
        let num = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(default)
        };
        let env_offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        Hub {
            cache: Cache::from_env(),
            endpoint: std::env::var("HF_ENDPOINT")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "https://huggingface.co".to_string()),
            token: token.filter(|t| !t.is_empty()).or_else(env_token),
            offline: offline || env_offline,
            stall: Duration::from_secs(num("BRISK_HF_STALL_SECS", 30).max(1)),
            retry: Retry {
                attempts: num("BRISK_HF_RETRIES", 6).clamp(1, 100) as u32,
                backoff: Duration::from_millis(num("BRISK_HF_BACKOFF_MS", 1000)),
            },
            quiet,
        }
    }

    fn client(&self) -> Result<Client> {
        Client::new(&self.endpoint, self.token.clone(), self.stall)
    }

    /// The local path `r` means, downloading what the cache lacks: a GGUF file (part 1 of a
    /// split model) or a checkpoint directory. `pin` is a sha256 the model file must have.
    pub fn resolve(&self, r: &RepoRef, pin: Option<&str>) -> Result<PathBuf> {
        if self.offline || is_commit(&r.revision) {
            if let Some(path) = self.cached(r) {
                return use_path(path, pin);
            }
            if self.offline {
                bail!(
                    "{}: not in the Hugging Face cache ({}) and downloads are off (--offline or HF_HUB_OFFLINE)",
                    describe(r),
                    self.cache.root.display()
                );
            }
        }
        let client = self.client()?;
        // With a cached copy to fall back on, an unreachable hub costs one try, not a backoff.
        let listing = match self.cached(r).is_some() {
            true => client.tree(&r.repo, &r.revision),
            false => self.with_retries(|| client.tree(&r.repo, &r.revision)),
        };
        let tree = match listing {
            Ok(t) => t,
            Err(HubError::Transient(e)) => match self.cached(r) {
                Some(path) => {
                    if !self.quiet {
                        eprintln!("brisk: the hub cannot be reached ({e}); using the cached copy");
                    }
                    return use_path(path, pin);
                }
                None => bail!("{e}"),
            },
            Err(HubError::Fatal(e) | HubError::Expired(e)) => bail!("{e}"),
        };
        for f in &tree {
            check_repo_path(&f.path)?;
        }
        let names: Vec<String> = tree.iter().map(|f| f.path.clone()).collect();
        let selection = pick::select(r, &names)?;
        let mut progress = Progress::new(self.quiet);
        let mut commit: Option<String> = None;
        let mut first = None;
        // A checkpoint's small files come first: its shard index then says which of the
        // repository's .safetensors files are the model (Mistral's repositories also hold a
        // consolidated copy of every weight).
        let (small, shards): (Vec<&String>, Vec<&String>) = match &selection {
            Selection::Gguf(f) => (f.iter().collect(), Vec::new()),
            Selection::Checkpoint(f) => f.iter().partition(|n| !n.ends_with(".safetensors")),
        };
        for name in small {
            let listed = tree.iter().find(|f| &f.path == name);
            let (c, path) =
                self.fetch_file(&client, r, commit.as_deref(), name, listed, &mut progress)?;
            commit.get_or_insert(c);
            first.get_or_insert(path);
        }
        let snapshot = commit.as_ref().map(|c| self.cache.snapshot(&r.repo, c));
        for name in model_shards(snapshot.as_deref(), &shards)? {
            let listed = tree.iter().find(|f| &f.path == name);
            let (c, _) =
                self.fetch_file(&client, r, commit.as_deref(), name, listed, &mut progress)?;
            commit.get_or_insert(c);
        }
        let commit = commit.ok_or_else(|| anyhow!("{}: nothing to fetch", describe(r)))?;
        self.cache.write_ref(&r.repo, &r.revision, &commit)?;
        let path = match selection {
            Selection::Gguf(_) => first.ok_or_else(|| anyhow!("nothing fetched"))?,
            Selection::Checkpoint(_) => self.cache.snapshot(&r.repo, &commit),
        };
        use_path(path, pin)
    }

    /// One file into the snapshot of its commit (downloaded unless its blob is here).
    fn fetch_file(
        &self,
        client: &Client,
        r: &RepoRef,
        commit: Option<&str>,
        name: &str,
        listed: Option<&RemoteFile>,
        progress: &mut Progress,
    ) -> Result<(String, PathBuf)> {
        let revision = commit.unwrap_or(&r.revision);
        let meta = self
            .with_retries(|| client.head(&r.repo, revision, name))
            .map_err(|e| anyhow!("{e}"))?;
        let sha256 = listed.and_then(|f| f.sha256.clone()).or_else(|| {
            (meta.etag.len() == 64 && meta.etag.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| meta.etag.to_ascii_lowercase())
        });
        // Named by content when its sha256 is known, so a changed ETag alone never
        // downloads the same bytes again.
        let blob = blob_name(sha256.as_deref().unwrap_or(&meta.etag));
        let blob_path = self.cache.blob(&r.repo, &blob);
        let size = listed.map(|f| f.size).filter(|s| *s > 0).or(meta.size);
        let what = format!("{}/{name}", r.repo);
        let want = Wanted {
            url: meta.url.clone(),
            what: &what,
            size,
            sha256: sha256.as_deref(),
        };
        // A signed download link can expire during a long transfer: ask the hub for a new one.
        let refresh = || {
            client
                .head(&r.repo, &meta.commit, name)
                .map(|m| m.url)
                .map_err(|e| anyhow!("{e}"))
        };
        download::fetch(client, &want, &blob_path, &self.retry, progress, &refresh)?;
        let path = self.cache.link(&r.repo, &meta.commit, name, &blob)?;
        Ok((meta.commit, path))
    }

    /// `f`, again after a wait while it fails transiently.
    fn with_retries<T>(&self, mut f: impl FnMut() -> Result<T, HubError>) -> Result<T, HubError> {
        let mut tries = 1;
        loop {
            match f() {
                Err(HubError::Transient(e)) if tries < self.retry.attempts => {
                    if crate::interrupt::requested() {
                        return Err(HubError::Fatal(INTERRUPTED.to_string()));
                    }
                    let wait = self.retry.backoff.saturating_mul(1 << (tries - 1).min(5));
                    if !self.quiet {
                        eprintln!("brisk: {e}; retrying in {:.1} s", wait.as_secs_f64());
                    }
                    std::thread::sleep(wait.min(Duration::from_secs(30)));
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    /// The cached path of `r`, when its revision's snapshot holds every file it needs.
    pub fn cached(&self, r: &RepoRef) -> Option<PathBuf> {
        let commit = self.cache.commit_of(&r.repo, &r.revision)?;
        let files = self.cache.snapshot_files(&r.repo, &commit);
        let selection = pick::select(r, &files).ok()?;
        let snapshot = self.cache.snapshot(&r.repo, &commit);
        let there = |f: &str| std::fs::metadata(snapshot.join(f)).is_ok_and(|m| m.is_file());
        let all_there = match &selection {
            Selection::Gguf(f) => f.iter().all(|f| there(f)),
            // A checkpoint is whole when its config and every shard its index names (or its
            // single file) are there — not merely some of what an interrupted fetch left.
            Selection::Checkpoint(f) => {
                let shards: Vec<&String> =
                    f.iter().filter(|n| n.ends_with(".safetensors")).collect();
                there("config.json")
                    && model_shards(Some(&snapshot), &shards)
                        .is_ok_and(|s| !s.is_empty() && s.iter().all(|f| there(f)))
            }
        };
        if !all_there {
            return None;
        }
        Some(match selection {
            Selection::Gguf(f) => snapshot.join(&f[0]),
            Selection::Checkpoint(_) => snapshot,
        })
    }
}

/// The .safetensors files that make up a checkpoint among `shards` (what the repository lists
/// or the snapshot holds): those its index in `snapshot` names, else `model.safetensors`, else
/// every one. An index naming a file that is not there is an error.
fn model_shards<'a>(
    snapshot: Option<&std::path::Path>,
    shards: &[&'a String],
) -> Result<Vec<&'a String>> {
    let index = snapshot
        .map(|s| s.join(crate::format::safetensors::INDEX_FILE))
        .filter(|p| p.is_file());
    if let Some(index) = index {
        let (named, _) = crate::format::safetensors::read_index(&index)?;
        let mut out = Vec::new();
        for n in &named {
            match shards.iter().find(|s| s.as_str() == n) {
                Some(s) => out.push(*s),
                None => bail!(
                    "{}: names shard {n}, which the repository does not have",
                    index.display()
                ),
            }
        }
        return Ok(out);
    }
    let single = crate::format::safetensors::SINGLE_FILE;
    if let Some(s) = shards.iter().find(|s| s.as_str() == single) {
        return Ok(vec![*s]);
    }
    Ok(shards.to_vec())
}

/// `HF_TOKEN`, `HUGGING_FACE_HUB_TOKEN`, or the token file huggingface_hub's login writes.
fn env_token() -> Option<String> {
    for var in ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"] {
        if let Some(t) = std::env::var(var).ok().filter(|t| !t.trim().is_empty()) {
            return Some(t.trim().to_string());
        }
    }
    let path = std::env::var_os("HF_TOKEN_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache::hf_home().join("token"));
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn describe(r: &RepoRef) -> String {
    match (&r.file, &r.quant) {
        (Some(f), _) => format!("{}/{f}", r.repo),
        (None, Some(q)) => format!("{}:{q}", r.repo),
        (None, None) => r.repo.clone(),
    }
}

/// The path a reference resolved to, checked against its pin and marked as used.
fn use_path(path: PathBuf, pin: Option<&str>) -> Result<PathBuf> {
    check_pin(&path, pin)?;
    touch(&path);
    Ok(path)
}

/// A pinned sha256 (from an alias) that the file does not have is an error before it runs.
fn check_pin(path: &std::path::Path, pin: Option<&str>) -> Result<()> {
    let Some(expected) = pin else {
        return Ok(());
    };
    if path.is_dir() {
        return Ok(());
    }
    // A blob named by its sha256 needs no rehash.
    let blob = std::fs::canonicalize(path).ok();
    let named = blob
        .as_ref()
        .and_then(|b| b.file_name())
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.eq_ignore_ascii_case(expected));
    if named {
        return Ok(());
    }
    let got = download::hash_file(path)?;
    if !got.eq_ignore_ascii_case(expected) {
        bail!(
            "{}: sha256 {got} is not the {expected} its alias names",
            path.display()
        );
    }
    Ok(())
}

/// Record a use (the access time `brisk ls` shows as last used).
fn touch(path: &std::path::Path) {
    let target = if path.is_dir() {
        path.to_path_buf()
    } else {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    };
    if let Ok(f) = std::fs::File::open(&target) {
        let times = std::fs::FileTimes::new().set_accessed(std::time::SystemTime::now());
        let _ = f.set_times(times);
    }
}
