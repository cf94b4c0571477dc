//! The Hugging Face hub protocol over HTTP(S): a repository's file list from
//! `/api/models/{repo}/tree/{revision}`, a file's commit, ETag and size from a `HEAD` of
//! `/{repo}/resolve/{revision}/{path}`, and its bytes from a `GET` that may start mid-file
//! (`Range`). Redirects are followed by hand so the token only goes to the hub's own origin.
use std::io::Read;
use std::time::Duration;
use url::Url;

/// Why a request failed: worth retrying (a cut or stalled connection, 429, 5xx) or not.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Fatal(String),
    /// A download URL off the hub refused the request (a signed link that expired): worth a
    /// new URL from the hub.
    #[error("{0}")]
    Expired(String),
}

/// One file of a repository's listing.
#[derive(Clone, Debug)]
pub struct RemoteFile {
    pub path: String,
    pub size: u64,
    /// The sha256 of its contents, for files stored in LFS.
    pub sha256: Option<String>,
}

/// What a `HEAD` of a file says.
#[derive(Clone, Debug)]
pub struct FileMeta {
    pub commit: String,
    pub etag: String,
    pub size: Option<u64>,
    /// Where its bytes are (the CDN a hub redirects to, or the resolve URL itself).
    pub url: Url,
}

/// A response body from `start` on, of a file of `total` bytes when the server said.
pub struct Body {
    pub start: u64,
    pub total: Option<u64>,
    pub reader: Box<dyn Read + Send>,
}

pub struct Client {
    agent: ureq::Agent,
    endpoint: Url,
    token: Option<String>,
}

const MAX_REDIRECTS: usize = 10;
/// The most a file listing may be (a repository of thousands of files is well under this).
const MAX_LISTING_BYTES: u64 = 64 << 20;

impl Client {
    /// A client for the hub at `endpoint`; a read that waits `stall` with no byte fails.
    pub fn new(endpoint: &str, token: Option<String>, stall: Duration) -> anyhow::Result<Client> {
        let endpoint = Url::parse(endpoint.trim_end_matches('/'))
            .map_err(|e| anyhow::anyhow!("HF_ENDPOINT '{endpoint}' is not a URL: {e}"))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            anyhow::bail!("HF_ENDPOINT '{endpoint}' is not an http or https URL");
        }
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout_connect(Duration::from_secs(15))
            .timeout_read(stall)
            .timeout_write(stall)
            .try_proxy_from_env(true)
            .user_agent(concat!("brisk/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent,
            endpoint,
            token,
        })
    }

    fn url(&self, segments: &[&str], path: &str) -> Url {
        let mut url = self.endpoint.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty();
            segs.extend(segments);
            segs.extend(path.split('/'));
        }
        url
    }

    /// A request with the token when `url` is on the hub's own origin.
    fn request(&self, method: &str, url: &Url) -> ureq::Request {
        let req = self
            .agent
            .request_url(method, url)
            .set("Accept-Encoding", "identity");
        match &self.token {
            Some(t) if url.origin() == self.endpoint.origin() => {
                req.set("Authorization", &format!("Bearer {t}"))
            }
            _ => req,
        }
    }

    /// Send, turning statuses of 400 and up and transport failures into [`HubError`]s.
    fn send(&self, req: ureq::Request, what: &str) -> Result<ureq::Response, HubError> {
        match req.call() {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(code, r)) => Err(self.status_error(code, &r, what)),
            Err(ureq::Error::Transport(t)) => Err(HubError::Transient(format!(
                "{what}: {}",
                transport_message(&t)
            ))),
        }
    }

    fn status_error(&self, code: u16, r: &ureq::Response, what: &str) -> HubError {
        let not_found = r.header("X-Error-Code") == Some("RepoNotFound");
        match code {
            401 if self.token.is_some() => HubError::Fatal(format!(
                "{what}: the hub refused the token (401), or there is no such repository"
            )),
            401 if not_found => HubError::Fatal(format!(
                "{what}: no such repository, or it is private (set HF_TOKEN or pass --hf-token)"
            )),
            401 => HubError::Fatal(format!(
                "{what}: the hub wants a token (401): set HF_TOKEN or pass --hf-token"
            )),
            403 => HubError::Fatal(format!(
                "{what}: access denied (403; a gated model needs its terms accepted on the hub, and a token)"
            )),
            404 => HubError::Fatal(format!("{what}: not found on the hub (404)")),
            408 | 425 | 429 | 500..=599 => {
                HubError::Transient(format!("{what}: the hub answered {code}"))
            }
            _ => HubError::Fatal(format!("{what}: the hub answered {code}")),
        }
    }

    /// Every file of `repo` at `revision` (following the listing's pages).
    pub fn tree(&self, repo: &str, revision: &str) -> Result<Vec<RemoteFile>, HubError> {
        let what = format!("{repo}@{revision}");
        let mut url = self.url(&["api", "models"], repo);
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.extend(["tree", revision]);
        }
        url.set_query(Some("recursive=true"));
        let mut files = Vec::new();
        for _page in 0..10_000 {
            let resp = self.send(self.request("GET", &url), &what)?;
            let next = resp.header("Link").and_then(next_link);
            let mut text = String::new();
            resp.into_reader()
                .take(MAX_LISTING_BYTES)
                .read_to_string(&mut text)
                .map_err(|e| HubError::Transient(format!("{what}: reading the file list: {e}")))?;
            let entries: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| {
                HubError::Fatal(format!("{what}: the hub's file list is not JSON: {e}"))
            })?;
            for e in entries {
                if e.get("type").and_then(|t| t.as_str()) != Some("file") {
                    continue;
                }
                let Some(path) = e.get("path").and_then(|p| p.as_str()) else {
                    continue;
                };
                let lfs = e.get("lfs");
                let sha256 = lfs
                    .and_then(|l| l.get("oid"))
                    .and_then(|o| o.as_str())
                    .filter(|s| is_sha256(s))
                    .map(str::to_string);
                let size = lfs
                    .and_then(|l| l.get("size"))
                    .or_else(|| e.get("size"))
                    .and_then(|s| s.as_u64())
                    .unwrap_or(0);
                files.push(RemoteFile {
                    path: path.to_string(),
                    size,
                    sha256,
                });
            }
            match next.and_then(|n| self.endpoint.join(&n).ok()) {
                Some(n) => url = n,
                None => return Ok(files),
            }
        }
        Err(HubError::Fatal(format!("{what}: the file list never ends")))
    }

    /// A file's commit, ETag, size and download URL.
    pub fn head(&self, repo: &str, revision: &str, path: &str) -> Result<FileMeta, HubError> {
        let what = format!("{repo}/{path}");
        let mut url = self.url(&[], repo);
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.extend(["resolve", revision]);
            segs.extend(path.split('/'));
        }
        for _ in 0..MAX_REDIRECTS {
            let resp = self.send(self.request("HEAD", &url), &what)?;
            let redirect = (300..400).contains(&resp.status());
            let raw = resp.header("Location").filter(|_| redirect);
            let location = raw.and_then(|l| url.join(l).ok());
            // A relative redirect stays within the hub (a renamed repository) and is followed,
            // as huggingface_hub does; an absolute one is where the bytes are, and this
            // response carries the file's metadata.
            if let (Some(next), Some(l)) = (&location, raw) {
                if Url::parse(l).is_err() {
                    url = next.clone();
                    continue;
                }
            }
            let commit = resp
                .header("X-Repo-Commit")
                .map(str::to_string)
                .filter(|c| super::cache::is_commit(c))
                .ok_or_else(|| {
                    HubError::Fatal(format!("{what}: the hub's answer names no commit"))
                })?;
            let etag = resp
                .header("X-Linked-Etag")
                .or_else(|| resp.header("ETag"))
                .map(clean_etag)
                .filter(|e| !e.is_empty())
                .ok_or_else(|| HubError::Fatal(format!("{what}: the hub's answer has no ETag")))?;
            let size = resp
                .header("X-Linked-Size")
                .or_else(|| resp.header("Content-Length"))
                .and_then(|s| s.trim().parse().ok());
            return Ok(FileMeta {
                commit,
                etag,
                size,
                url: location.unwrap_or(url),
            });
        }
        Err(HubError::Fatal(format!("{what}: too many redirects")))
    }

    /// The bytes at `url` from byte `from` on (a `Range` request when `from` > 0; the server
    /// may answer with the whole file instead, which `Body::start` says).
    pub fn get(&self, url: &Url, from: u64, what: &str) -> Result<Body, HubError> {
        let mut url = url.clone();
        for _ in 0..MAX_REDIRECTS {
            let mut req = self.request("GET", &url);
            if from > 0 {
                req = req.set("Range", &format!("bytes={from}-"));
            }
            let resp = match req.call() {
                Ok(r) => r,
                Err(ureq::Error::Status(416, _)) => {
                    return Ok(Body {
                        start: from,
                        total: Some(from),
                        reader: Box::new(std::io::empty()),
                    })
                }
                Err(ureq::Error::Status(code @ (401 | 403), _))
                    if url.origin() != self.endpoint.origin() =>
                {
                    return Err(HubError::Expired(format!(
                        "{what}: the download link was refused ({code})"
                    )))
                }
                Err(ureq::Error::Status(code, r)) => return Err(self.status_error(code, &r, what)),
                Err(ureq::Error::Transport(t)) => {
                    return Err(HubError::Transient(format!(
                        "{what}: {}",
                        transport_message(&t)
                    )))
                }
            };
            let status = resp.status();
            if (300..400).contains(&status) {
                url = resp
                    .header("Location")
                    .and_then(|l| url.join(l).ok())
                    .ok_or_else(|| HubError::Fatal(format!("{what}: a redirect to nowhere")))?;
                continue;
            }
            let (start, total) = match status {
                206 => resp
                    .header("Content-Range")
                    .and_then(content_range)
                    .filter(|(s, _)| *s == from)
                    .ok_or_else(|| {
                        HubError::Transient(format!("{what}: the server sent another range"))
                    })?,
                _ => (
                    0,
                    resp.header("Content-Length").and_then(|s| s.parse().ok()),
                ),
            };
            return Ok(Body {
                start,
                total,
                reader: resp.into_reader(),
            });
        }
        Err(HubError::Fatal(format!("{what}: too many redirects")))
    }
}

fn transport_message(t: &ureq::Transport) -> String {
    match t.message() {
        Some(m) => format!("{} ({m})", t.kind()),
        None => t.kind().to_string(),
    }
}

/// `"abc"`, `W/"abc"` → `abc`.
fn clean_etag(raw: &str) -> String {
    raw.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `bytes 100-999/1000` → (100, Some(1000)).
fn content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(v: &str) -> Option<String> {
    v.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers() {
        assert_eq!(clean_etag("W/\"ab12\""), "ab12");
        assert_eq!(content_range("bytes 5-9/10"), Some((5, Some(10))));
        assert_eq!(content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(content_range("items 1-2/3"), None);
        assert_eq!(
            next_link("<https://h/api?cursor=x>; rel=\"next\"").as_deref(),
            Some("https://h/api?cursor=x")
        );
        assert_eq!(next_link("<https://h/a>; rel=\"prev\""), None);
    }

    #[test]
    fn the_token_goes_to_the_hub_only() {
        let c = Client::new(
            "http://127.0.0.1:9",
            Some("secret".into()),
            Duration::from_secs(1),
        )
        .unwrap();
        let hub = c.url(&["a"], "b");
        assert_eq!(hub.as_str(), "http://127.0.0.1:9/a/b");
        assert!(c.request("GET", &hub).header("Authorization").is_some());
        let cdn = Url::parse("https://cdn.example/x").unwrap();
        assert!(c.request("GET", &cdn).header("Authorization").is_none());
    }
}
