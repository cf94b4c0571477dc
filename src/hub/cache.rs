//! The shared Hugging Face cache layout (`$HF_HUB_CACHE`, `$HF_HOME/hub` or
//! `~/.cache/huggingface/hub`), as huggingface_hub writes it: `models--org--name/blobs/<etag>`
//! holds each file's bytes once, `snapshots/<commit>/<path>` links to the blob, and
//! `refs/<revision>` names the commit a branch or tag pointed to when last fetched.
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The hub cache's root directory.
#[derive(Clone, Debug)]
pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    /// The cache the environment names: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
    /// `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
    pub fn from_env() -> Cache {
        let root = match std::env::var_os("HF_HUB_CACHE").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => hf_home().join("hub"),
        };
        Cache { root }
    }

    /// `models--org--name` for `org/name`.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root
            .join(format!("models--{}", repo.replace('/', "--")))
    }

    pub fn blob(&self, repo: &str, blob: &str) -> PathBuf {
        self.repo_dir(repo).join("blobs").join(blob)
    }

    pub fn snapshot(&self, repo: &str, commit: &str) -> PathBuf {
        self.repo_dir(repo).join("snapshots").join(commit)
    }

    /// The commit `revision` stands for here: itself when it is a commit hash, else what
    /// `refs/<revision>` recorded.
    pub fn commit_of(&self, repo: &str, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return Some(revision.to_string());
        }
        let text = std::fs::read_to_string(self.repo_dir(repo).join("refs").join(revision)).ok()?;
        let commit = text.trim();
        is_commit(commit).then(|| commit.to_string())
    }

    /// Record that `revision` points at `commit` (atomically: a reader sees the old or the
    /// new commit, never half a file).
    pub fn write_ref(&self, repo: &str, revision: &str, commit: &str) -> Result<()> {
        if revision == commit {
            return Ok(());
        }
        let path = self.repo_dir(repo).join("refs").join(revision);
        write_atomic(&path, commit.as_bytes())
    }

    /// Point `snapshots/<commit>/<file>` at `blobs/<blob>` (a relative link, as
    /// huggingface_hub makes it), replacing any link already there in one rename.
    pub fn link(&self, repo: &str, commit: &str, file: &str, blob: &str) -> Result<PathBuf> {
        let dest = self.snapshot(repo, commit).join(file);
        let parent = dest.parent().context("snapshot path has no parent")?;
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let depth = file.split('/').count() + 1; // up to models--org--name
        let target = format!("{}blobs/{blob}", "../".repeat(depth));
        let tmp = parent.join(format!(
            ".{}.brisk-link-{}",
            dest.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
            std::process::id()
        ));
        let _ = std::fs::remove_file(&tmp);
        make_link(&target, &self.blob(repo, blob), &tmp)
            .with_context(|| format!("cannot link {}", dest.display()))?;
        std::fs::rename(&tmp, &dest).with_context(|| format!("cannot link {}", dest.display()))?;
        Ok(dest)
    }

    /// The files of a snapshot, as repository paths (`dir/name` with `/`), sorted.
    pub fn snapshot_files(&self, repo: &str, commit: &str) -> Vec<String> {
        let root = self.snapshot(repo, commit);
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }
}

/// `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
pub fn hf_home() -> PathBuf {
    if let Some(home) = std::env::var_os("HF_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs::home_dir().unwrap_or_default().join(".cache"));
    cache.join("huggingface")
}

/// A full git commit hash (40 lowercase hex digits).
pub fn is_commit(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A blob name taken from a server's ETag or sha256: kept when it is a plain token, else
/// replaced by its own sha256 (a hostile ETag must not name a path outside `blobs/`).
pub fn blob_name(tag: &str) -> String {
    let plain = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        tag.to_string()
    } else {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(tag.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A repository path that is safe to place under a snapshot: relative, `/`-separated, no
/// empty, `.` or `..` part, no backslash or NUL.
pub fn check_repo_path(path: &str) -> Result<()> {
    let bad = path.is_empty()
        || path.len() > 1024
        || path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    if bad {
        bail!("the hub listed a file with an unusable path {path:?}");
    }
    Ok(())
}

/// Write `bytes` to `path` through a temporary file and a rename (its folder made first).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let parent = path.parent().context("path has no parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let mut f = crate::format::atomic_file::AtomicFile::create(path)
        .and_then(|mut f| f.write_all(bytes).map(|()| f))
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.flush()?;
    f.commit()
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(unix)]
fn make_link(target: &str, _blob: &Path, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

/// Without symlinks (Windows without developer mode), huggingface_hub copies the blob.
#[cfg(not(unix))]
fn make_link(_target: &str, blob: &Path, at: &Path) -> std::io::Result<()> {
    std::fs::copy(blob, at).map(|_| ())
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(root, &path, out),
            Ok(_) => {
                if let Ok(rel) = path.strip_prefix(root) {
                    let parts: Vec<String> = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    out.push(parts.join("/"));
                }
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_inside_the_cache() {
        assert_eq!(blob_name("abc123"), "abc123");
        assert_ne!(blob_name("../../etc/passwd"), "../../etc/passwd");
        assert_eq!(blob_name("../x").len(), 64);
        for bad in ["", "/abs", "a/../b", "a//b", "./a", "a\\b", "a/."] {
            assert!(check_repo_path(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["model.gguf", "Q4_K_M/model-00001-of-00002.gguf", "a.b/c"] {
            assert!(check_repo_path(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn commit_hashes_are_forty_lowercase_hex_digits() {
        assert!(is_commit(&"a".repeat(40)));
        assert!(!is_commit(&"A".repeat(40)));
        assert!(!is_commit("main"));
        assert!(!is_commit(&"a".repeat(39)));
    }

    #[cfg(unix)]
    #[test]
    fn links_resolve_to_blobs_and_replace_atomically() {
        let dir = std::env::temp_dir().join(format!("brisk-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = Cache { root: dir.clone() };
        let repo = "org/name";
        for (blob, body) in [("b1", "one"), ("b2", "two")] {
            write_atomic(&cache.blob(repo, blob), body.as_bytes()).unwrap();
        }
        let commit = "c".repeat(40);
        let p = cache.link(repo, &commit, "sub/f.gguf", "b1").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one");
        cache.link(repo, &commit, "sub/f.gguf", "b2").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(cache.snapshot_files(repo, &commit), vec!["sub/f.gguf"]);
        cache.write_ref(repo, "main", &commit).unwrap();
        assert_eq!(cache.commit_of(repo, "main"), Some(commit.clone()));
        assert!(dir.join("models--org--name/refs/main").is_file());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
