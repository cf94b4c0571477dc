//! One file into the cache: its bytes streamed into `blobs/<name>.incomplete`, resumed with
//! `Range` after a cut or stalled connection or a Ctrl-C, retried with backoff on transient
//! failures, its sha256 checked as it streams (a mismatch deletes it), then renamed into place.
use super::client::{Client, HubError};
use super::progress::Progress;
use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use url::Url;

/// How hard to try.
#[derive(Clone, Debug)]
pub struct Retry {
    /// Failed attempts in a row (with no byte received between them) before giving up.
    pub attempts: u32,
    /// The first wait; each further one doubles, up to 30 s.
    pub backoff: Duration,
}

/// What to fetch and how to check it.
pub struct Wanted<'a> {
    pub url: Url,
    pub what: &'a str,
    pub size: Option<u64>,
    pub sha256: Option<&'a str>,
}

/// Download `want` to `blob` unless a blob of its size is there already (nothing is there
/// until it is complete and verified). `refresh` gives a new download URL when the one in use
/// is refused (a signed link that expired).
pub fn fetch(
    client: &Client,
    want: &Wanted,
    blob: &Path,
    retry: &Retry,
    progress: &mut Progress,
    refresh: &dyn Fn() -> Result<Url>,
) -> Result<()> {
    let mut partial = blob.as_os_str().to_owned();
    partial.push(".incomplete");
    let partial = std::path::PathBuf::from(partial);
    let dir = blob.parent().context("blob path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _lock = lock(&partial)?;
    // Checked under the lock: another process may have finished (or be replacing) it.
    if let Ok(m) = std::fs::metadata(blob) {
        if m.is_file() && want.size.is_none_or(|s| m.len() == s) {
            return Ok(());
        }
        std::fs::remove_file(blob).with_context(|| format!("cannot replace {}", blob.display()))?;
    }
    let mut failures = 0u32;
    let mut hash = Streamed::default();
    let mut url = want.url.clone();
    loop {
        match attempt(client, want, &url, &partial, &mut hash, progress) {
            Ok(()) => break,
            Err(Step::Interrupted) => return Err(anyhow!(super::INTERRUPTED)),
            Err(Step::Fatal(e)) => return Err(e),
            Err(Step::Expired(why)) => {
                failures += 1;
                if failures >= retry.attempts {
                    bail!("{why}");
                }
                progress.note(&format!("{why}; asking the hub for a new download link"));
                url = refresh()?;
            }
            Err(Step::Transient { error, progressed }) => {
                failures = if progressed { 1 } else { failures + 1 };
                if failures >= retry.attempts {
                    bail!(
                        "{error} (gave up after {failures} tries; run again to resume from {})",
                        super::progress::bytes(file_len(&partial))
                    );
                }
                let wait = retry
                    .backoff
                    .saturating_mul(1 << (failures - 1).min(5))
                    .min(Duration::from_secs(30));
                progress.note(&format!(
                    "{error}; retrying in {:.1} s from {}",
                    wait.as_secs_f64(),
                    super::progress::bytes(file_len(&partial))
                ));
                sleep_unless_interrupted(wait)?;
            }
        }
    }
    if let Some(expected) = want.sha256 {
        let got = hash.hex(&partial)?;
        if !got.eq_ignore_ascii_case(expected) {
            let _ = std::fs::remove_file(&partial);
            bail!(
                "{}: sha256 mismatch (expected {expected}, got {got}); the download was deleted",
                want.what
            );
        }
    }
    std::fs::rename(&partial, blob).with_context(|| format!("cannot write {}", blob.display()))
}

/// The sha256 of the partial file's first `len` bytes, updated as bytes arrive.
#[derive(Default)]
struct Streamed {
    hasher: Sha256,
    len: u64,
}

impl Streamed {
    /// Catch up with a partial file this process did not write (an earlier run's).
    fn sync(&mut self, partial: &Path, len: u64) -> Result<()> {
        if self.len == len {
            return Ok(());
        }
        *self = Streamed::default();
        if len > 0 {
            let f = File::open(partial)
                .with_context(|| format!("cannot read {}", partial.display()))?;
            let mut buf = vec![0u8; 1 << 20];
            let mut r = f.take(len);
            loop {
                let n = r
                    .read(&mut buf)
                    .with_context(|| format!("cannot read {}", partial.display()))?;
                if n == 0 {
                    break;
                }
                self.update(&buf[..n]);
            }
        }
        Ok(())
    }

    fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
    }

    fn hex(&mut self, partial: &Path) -> Result<String> {
        self.sync(partial, file_len(partial))?;
        let h = std::mem::take(&mut self.hasher);
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}

enum Step {
    Transient {
        error: String,
        progressed: bool,
    },
    /// The download URL was refused (401/403 off the hub: a signed link that expired).
    Expired(String),
    Fatal(anyhow::Error),
    Interrupted,
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// One request: append what the server sends to `partial`, from where it ends.
fn attempt(
    client: &Client,
    want: &Wanted,
    url: &Url,
    partial: &Path,
    hash: &mut Streamed,
    progress: &mut Progress,
) -> Result<(), Step> {
    let fatal = |e: anyhow::Error| Step::Fatal(e);
    let have = file_len(partial);
    if want.size.is_some_and(|s| have > s) {
        std::fs::remove_file(partial).map_err(|e| fatal(e.into()))?;
        return attempt(client, want, url, partial, hash, progress);
    }
    if have > 0 && want.size == Some(have) {
        return Ok(());
    }
    let body = client.get(url, have, want.what).map_err(|e| match e {
        HubError::Transient(error) => Step::Transient {
            error,
            progressed: false,
        },
        HubError::Expired(m) => Step::Expired(m),
        HubError::Fatal(m) => Step::Fatal(anyhow!(m)),
    })?;
    let total = body.total.or(want.size);
    if body.start == 0 && have > 0 {
        progress.note("the server sent the whole file; starting over");
    }
    hash.sync(partial, body.start).map_err(fatal)?;
    let mut out = OpenOptions::new()
        .create(true)
        .append(body.start > 0)
        .write(true)
        .truncate(body.start == 0)
        .open(partial)
        .with_context(|| format!("cannot write {}", partial.display()))
        .map_err(fatal)?;
    crate::interrupt::install();
    progress.start(want.what, total, body.start);
    let mut reader = body.reader;
    let mut buf = vec![0u8; 1 << 16];
    let mut got = body.start;
    let mut progressed = false;
    loop {
        if crate::interrupt::requested() {
            let _ = out.flush();
            return Err(Step::Interrupted);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = out.flush();
                let why = match e.kind() {
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                        "the download stalled".to_string()
                    }
                    _ => format!("the connection broke ({e})"),
                };
                return Err(Step::Transient {
                    error: format!("{}: {why} at {}", want.what, super::progress::bytes(got)),
                    progressed,
                });
            }
        };
        out.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", partial.display()))
            .map_err(fatal)?;
        hash.update(&buf[..n]);
        got += n as u64;
        progressed = true;
        progress.advance(got);
    }
    out.flush().map_err(|e| fatal(e.into()))?;
    progress.finish();
    match total {
        Some(t) if got < t => Err(Step::Transient {
            error: format!(
                "{}: the connection closed at {} of {}",
                want.what,
                super::progress::bytes(got),
                super::progress::bytes(t)
            ),
            progressed,
        }),
        Some(t) if got > t => {
            let _ = std::fs::remove_file(partial);
            Err(Step::Fatal(anyhow!(
                "{}: the server sent {got} bytes of a {t}-byte file; the download was deleted",
                want.what
            )))
        }
        _ => Ok(()),
    }
}

/// The sha256 of a file, as lowercase hex.
pub fn hash_file(path: &Path) -> Result<String> {
    Streamed::default().hex(path)
}

fn sleep_unless_interrupted(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if crate::interrupt::requested() {
            bail!(super::INTERRUPTED);
        }
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
    Ok(())
}

/// An exclusive lock beside the partial file, so two brisk processes never write one blob.
#[cfg(unix)]
fn lock(partial: &Path) -> Result<File> {
    use std::os::unix::io::AsRawFd;
    let path = partial.with_extension("lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns; it only blocks until the lock is free.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    if rc != 0 {
        bail!("cannot lock {}", path.display());
    }
    Ok(f)
}

#[cfg(not(unix))]
fn lock(_partial: &Path) -> Result<()> {
    Ok(())
}
