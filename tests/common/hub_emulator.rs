//! A Hugging Face hub on 127.0.0.1 for the download tests: the file-list API, `resolve` with
//! the hub's headers (`X-Repo-Commit`, `X-Linked-Etag`, `X-Linked-Size`, a redirect to a CDN
//! on a second port), `Range` requests, and fault modes (a cut connection, a stall, 503s, a
//! token requirement, a corrupted body, a changed ETag). It counts connections, requests and
//! bytes sent so tests can assert what crossed the wire.
#![allow(dead_code)]
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[derive(Clone)]
pub struct File {
    pub body: Vec<u8>,
    /// Stored in LFS (listed with `lfs.oid`, served through the CDN redirect).
    pub lfs: bool,
}

#[derive(Default)]
pub struct Faults {
    /// Close the next CDN transfer of this file after this many bytes.
    pub cut: Option<(String, u64)>,
    /// Send this many bytes of the next CDN transfer, then go silent this long.
    pub stall: Option<(String, u64, Duration)>,
    /// Answer this many requests with 503 first.
    pub unavailable: usize,
    /// Refuse requests to the hub without `Authorization: Bearer <this>`.
    pub token: Option<String>,
    /// Serve these files with one byte flipped (the listing keeps the true sha256).
    pub corrupt: Vec<String>,
    /// Announce this ETag for every file instead of its own.
    pub etag: Option<String>,
    /// Refuse this many CDN requests with 403, as an expired signed link is refused.
    pub expired: usize,
}

#[derive(Default)]
pub struct Log {
    pub connections: usize,
    /// `METHOD path` of every request, with its Range header when it had one.
    pub requests: Vec<String>,
    /// Body bytes the CDN sent, per file.
    pub sent: BTreeMap<String, u64>,
    /// Whether any CDN request carried an Authorization header.
    pub cdn_saw_token: bool,
}

struct Repo {
    commit: String,
    files: BTreeMap<String, File>,
}

#[derive(Default)]
struct State {
    repos: BTreeMap<String, Repo>,
    faults: Faults,
    log: Log,
}

pub struct Hub {
    pub endpoint: String,
    cdn_port: u16,
    state: Arc<Mutex<State>>,
}

impl Hub {
    pub fn start() -> Hub {
        let hub = TcpListener::bind("127.0.0.1:0").unwrap();
        let cdn = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://127.0.0.1:{}", hub.local_addr().unwrap().port());
        let cdn_port = cdn.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        for (listener, is_cdn) in [(hub, false), (cdn, true)] {
            let state = state.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming().flatten() {
                    let state = state.clone();
                    std::thread::spawn(move || serve(conn, &state, is_cdn, cdn_port));
                }
            });
        }
        Hub {
            endpoint,
            cdn_port,
            state,
        }
    }

    /// Put (or replace) a file; every change makes a new commit, as a push would.
    pub fn put(&self, repo: &str, path: &str, body: Vec<u8>, lfs: bool) {
        let mut s = self.state.lock().unwrap();
        let r = s.repos.entry(repo.to_string()).or_insert_with(|| Repo {
            commit: String::new(),
            files: BTreeMap::new(),
        });
        r.files.insert(path.to_string(), File { body, lfs });
        let mut h = Sha256::new();
        h.update(r.commit.as_bytes());
        h.update(path.as_bytes());
        h.update(r.files.len().to_le_bytes());
        r.commit = h
            .finalize()
            .iter()
            .take(20)
            .map(|x| format!("{x:02x}"))
            .collect();
    }

    pub fn commit(&self, repo: &str) -> String {
        self.state.lock().unwrap().repos[repo].commit.clone()
    }

    pub fn faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.state.lock().unwrap().faults);
    }

    pub fn log<T>(&self, f: impl FnOnce(&Log) -> T) -> T {
        f(&self.state.lock().unwrap().log)
    }

    pub fn connections(&self) -> usize {
        self.log(|l| l.connections)
    }

    pub fn sent(&self, path: &str) -> u64 {
        self.log(|l| l.sent.get(path).copied().unwrap_or(0))
    }

    pub fn requests(&self) -> Vec<String> {
        self.log(|l| l.requests.clone())
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(conn: &TcpStream) -> Option<Request> {
    let mut r = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Some(Request {
        method,
        path,
        headers,
    })
}

fn respond(conn: &mut TcpStream, status: &str, headers: &[(String, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| k == "Content-Length") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve(mut conn: TcpStream, state: &Mutex<State>, is_cdn: bool, cdn_port: u16) {
    let Some(req) = read_request(&conn) else {
        return;
    };
    let mut s = state.lock().unwrap();
    s.log.connections += 1;
    let range = req
        .header("Range")
        .map(|r| format!(" [{r}]"))
        .unwrap_or_default();
    s.log
        .requests
        .push(format!("{} {}{range}", req.method, req.path));
    if s.faults.unavailable > 0 {
        s.faults.unavailable -= 1;
        drop(s);
        return respond(&mut conn, "503 Service Unavailable", &[], b"");
    }
    let authorized = match &s.faults.token {
        Some(t) => req.header("Authorization") == Some(&format!("Bearer {t}")),
        None => true,
    };
    let path = req.path.split('?').next().unwrap_or("").to_string();
    if is_cdn {
        if req.header("Authorization").is_some() {
            s.log.cdn_saw_token = true;
        }
        drop(s);
        return serve_cdn(conn, state, &req, &path);
    }
    if !authorized {
        drop(s);
        return respond(&mut conn, "401 Unauthorized", &[], b"");
    }
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect();
    // /api/models/{org}/{name}/tree/{rev}
    if segs.len() == 6 && segs[0] == "api" && segs[1] == "models" && segs[4] == "tree" {
        let repo = format!("{}/{}", segs[2], segs[3]);
        let Some(r) = s
            .repos
            .get(&repo)
            .filter(|r| segs[5] == "main" || segs[5] == r.commit)
        else {
            drop(s);
            return respond(&mut conn, "404 Not Found", &[], b"{}");
        };
        let list: Vec<serde_json::Value> = r
            .files
            .iter()
            .map(|(p, f)| {
                let mut v = serde_json::json!({"type": "file", "path": p, "size": f.body.len(),
                    "oid": git_oid(&f.body)});
                if f.lfs {
                    v["lfs"] = serde_json::json!({"oid": sha256_hex(&f.body),
                        "size": f.body.len(), "pointerSize": 134});
                }
                v
            })
            .collect();
        let body = serde_json::to_vec(&list).unwrap();
        drop(s);
        let h = [("Content-Type".to_string(), "application/json".to_string())];
        return respond(&mut conn, "200 OK", &h, &body);
    }
    // /{org}/{name}/resolve/{rev}/{path...}
    if segs.len() >= 5 && segs[2] == "resolve" {
        let repo = format!("{}/{}", segs[0], segs[1]);
        let file = segs[4..].join("/");
        let found = s
            .repos
            .get(&repo)
            .filter(|r| segs[3] == "main" || segs[3] == r.commit)
            .and_then(|r| r.files.get(&file).map(|f| (r.commit.clone(), f.clone())));
        let Some((commit, f)) = found else {
            drop(s);
            let h = [("X-Error-Code".to_string(), "EntryNotFound".to_string())];
            return respond(&mut conn, "404 Not Found", &h, b"");
        };
        let sha = sha256_hex(&f.body);
        let etag = s.faults.etag.clone();
        drop(s);
        let mut h = vec![("X-Repo-Commit".to_string(), commit)];
        if f.lfs {
            let key = format!("{repo}/{file}");
            h.push((
                "X-Linked-Etag".into(),
                format!("\"{}\"", etag.unwrap_or(sha)),
            ));
            h.push(("X-Linked-Size".into(), f.body.len().to_string()));
            h.push(("ETag".into(), format!("\"{}\"", git_oid(&f.body))));
            h.push((
                "Location".into(),
                format!(
                    "http://127.0.0.1:{cdn_port}/cdn/{}",
                    key.replace('/', "%2F")
                ),
            ));
            h.push(("Content-Length".into(), "0".into()));
            return respond(&mut conn, "302 Found", &h, b"");
        }
        h.push((
            "ETag".into(),
            format!("\"{}\"", etag.unwrap_or(git_oid(&f.body))),
        ));
        let body = if req.method == "HEAD" {
            Vec::new()
        } else {
            f.body.clone()
        };
        h.push(("Content-Length".into(), f.body.len().to_string()));
        return respond(&mut conn, "200 OK", &h, &body);
    }
    drop(s);
    respond(&mut conn, "404 Not Found", &[], b"")
}

fn git_oid(body: &[u8]) -> String {
    // Not git's sha1, but 40 hex digits that change with the content, which is all a client
    // may assume of a non-LFS ETag.
    sha256_hex(body)[..40].to_string()
}

fn serve_cdn(mut conn: TcpStream, state: &Mutex<State>, req: &Request, path: &str) {
    let mut s = state.lock().unwrap();
    if s.faults.expired > 0 {
        s.faults.expired -= 1;
        drop(s);
        return respond(&mut conn, "403 Forbidden", &[], b"expired");
    }
    let key = decode(path.trim_start_matches("/cdn/"));
    let Some((repo, file)) = key.split_once('/').and_then(|(org, rest)| {
        let (name, file) = rest.split_once('/')?;
        Some((format!("{org}/{name}"), file.to_string()))
    }) else {
        drop(s);
        return respond(&mut conn, "404 Not Found", &[], b"");
    };
    let Some(f) = s.repos.get(&repo).and_then(|r| r.files.get(&file)).cloned() else {
        drop(s);
        return respond(&mut conn, "404 Not Found", &[], b"");
    };
    let mut body = f.body.clone();
    if s.faults.corrupt.contains(&file) {
        let mid = body.len() / 2;
        body[mid] ^= 0x5a;
    }
    let total = body.len() as u64;
    let start = req
        .header("Range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split('-').next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if start > total {
        drop(s);
        return respond(&mut conn, "416 Range Not Satisfiable", &[], b"");
    }
    let cut = match &s.faults.cut {
        Some((f, n)) if *f == file => {
            let n = *n;
            s.faults.cut = None;
            Some(n)
        }
        _ => None,
    };
    let stall = match &s.faults.stall {
        Some((f, n, d)) if *f == file => {
            let v = (*n, *d);
            s.faults.stall = None;
            Some(v)
        }
        _ => None,
    };
    drop(s);
    let mut h = vec![("Content-Length".to_string(), (total - start).to_string())];
    let status = if start > 0 {
        h.push((
            "Content-Range".into(),
            format!("bytes {start}-{}/{total}", total.saturating_sub(1)),
        ));
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in &h {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    let rest = &body[start as usize..];
    let limit = cut
        .or(stall.map(|(n, _)| n))
        .unwrap_or(u64::MAX)
        .min(rest.len() as u64);
    let mut sent = 0u64;
    for chunk in rest[..limit as usize].chunks(16 * 1024) {
        if conn.write_all(chunk).is_err() {
            break;
        }
        sent += chunk.len() as u64;
    }
    let _ = conn.flush();
    // Counted before any stall, so a test sees the bytes even while the connection hangs.
    *state.lock().unwrap().log.sent.entry(file).or_default() += sent;
    if let Some((_, d)) = stall {
        std::thread::sleep(d);
    }
    let _ = conn.shutdown(std::net::Shutdown::Both);
    let _ = conn.read(&mut [0u8; 1]);
}
