//! Downloads against a hub emulator on 127.0.0.1 (nothing else is reachable): the Hugging Face
//! cache layout, quant and split selection, resume after a cut connection, a stall and a
//! Ctrl-C, retries, sha256 checks, tokens, offline mode, changed ETags, aliases, `brisk ls`
//! and `brisk rm`, and `brisk run -hf` giving the same text as the local file.
mod common;
#[path = "common/hub_emulator.rs"]
mod hub_emulator;

use hub_emulator::{sha256_hex, Hub};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const REPO: &str = "org/tiny-GGUF";

fn body(n: usize, seed: u8) -> Vec<u8> {
    let mut x = seed as u32 | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

struct Env {
    home: PathBuf,
    config: PathBuf,
    hub: Hub,
}

impl Env {
    fn new(name: &str) -> Env {
        let root = std::env::temp_dir().join(format!("brisk-hub-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let hub = Hub::start();
        hub.put(REPO, "README.md", b"# tiny\n".to_vec(), false);
        hub.put(REPO, "tiny-Q4_K_M.gguf", body(300_000, 1), true);
        hub.put(REPO, "tiny-Q8_0.gguf", body(200_000, 2), true);
        Env {
            home: root.join("hf"),
            config: root.join("config"),
            hub,
        }
    }

    fn brisk(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_brisk"));
        c.args(args)
            .env("HF_HOME", &self.home)
            .env("HF_ENDPOINT", &self.hub.endpoint)
            .env("XDG_CONFIG_HOME", &self.config)
            .env("BRISK_HF_BACKOFF_MS", "20")
            .env_remove("HF_TOKEN")
            .env_remove("HUGGING_FACE_HUB_TOKEN")
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("HF_HUB_CACHE")
            .stdin(std::process::Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn pull(&self, spec: &str, env: &[(&str, &str)]) -> PathBuf {
        let out = self.brisk(&["pull", spec], env);
        assert!(out.status.success(), "pull {spec}: {}", stderr(&out));
        PathBuf::from(stdout(&out).trim())
    }

    fn repo_dir(&self) -> PathBuf {
        self.home.join("hub/models--org--tiny-GGUF")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(files_under(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn pull_fills_the_hugging_face_cache_layout_and_reuses_it() {
    let env = Env::new("layout");
    let path = env.pull(REPO, &[]);
    let commit = env.hub.commit(REPO);
    let sha = sha256_hex(&body(300_000, 1));
    assert_eq!(
        path,
        env.repo_dir()
            .join(format!("snapshots/{commit}/tiny-Q4_K_M.gguf"))
    );
    let link = std::fs::read_link(&path).unwrap();
    assert_eq!(link, PathBuf::from(format!("../../blobs/{sha}")));
    assert_eq!(std::fs::read(&path).unwrap(), body(300_000, 1));
    let refs = std::fs::read_to_string(env.repo_dir().join("refs/main")).unwrap();
    assert_eq!(refs.trim(), commit);
    assert_eq!(env.hub.sent("tiny-Q4_K_M.gguf"), 300_000);
    // Again: the hub is asked (HEAD) but no byte of the file moves.
    assert_eq!(env.pull(REPO, &[]), path);
    assert_eq!(env.hub.sent("tiny-Q4_K_M.gguf"), 300_000);
    // No partial or lock file is left beside the blob.
    let leftovers: Vec<String> = files_under(&env.repo_dir().join("blobs"))
        .into_iter()
        .filter(|f| f.ends_with(".incomplete"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn quants_are_case_insensitive_and_split_models_come_whole() {
    let env = Env::new("quants");
    let q8 = env.pull(&format!("{REPO}:q8_0"), &[]);
    assert!(q8.ends_with("tiny-Q8_0.gguf"), "{}", q8.display());
    env.hub.put(
        REPO,
        "big/tiny-Q6_K-00001-of-00002.gguf",
        body(1000, 3),
        true,
    );
    env.hub.put(
        REPO,
        "big/tiny-Q6_K-00002-of-00002.gguf",
        body(2000, 4),
        true,
    );
    let q6 = env.pull(&format!("{REPO}:Q6_K"), &[]);
    assert!(q6.ends_with("big/tiny-Q6_K-00001-of-00002.gguf"));
    let second = q6.with_file_name("tiny-Q6_K-00002-of-00002.gguf");
    assert_eq!(std::fs::read(second).unwrap(), body(2000, 4));
    let out = env.brisk(&["pull", &format!("{REPO}:Q2_K")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no Q2_K") && err.contains("Q4_K_M, Q6_K, Q8_0"),
        "{err}"
    );
    // --hf-file takes one file by name.
    let out = env.brisk(&["pull", REPO, "--hf-file", "README.md"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).trim().ends_with("README.md"));
}

#[test]
fn a_cut_connection_resumes_from_the_cut_byte() {
    let env = Env::new("cut");
    env.hub
        .faults(|f| f.cut = Some(("tiny-Q4_K_M.gguf".into(), 100_000)));
    let path = env.pull(REPO, &[]);
    assert_eq!(std::fs::read(&path).unwrap(), body(300_000, 1));
    // Exactly the file's bytes crossed the wire: the first 100000, then the rest.
    assert_eq!(env.hub.sent("tiny-Q4_K_M.gguf"), 300_000);
    let ranges: Vec<String> = env
        .hub
        .requests()
        .into_iter()
        .filter(|r| r.contains("/cdn/"))
        .collect();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert!(ranges[1].ends_with("[bytes=100000-]"), "{ranges:?}");
}

#[test]
fn a_failed_run_leaves_a_partial_file_the_next_run_resumes() {
    let env = Env::new("rerun");
    env.hub
        .faults(|f| f.cut = Some(("tiny-Q4_K_M.gguf".into(), 120_000)));
    let out = env.brisk(&["pull", REPO], &[("BRISK_HF_RETRIES", "1")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("resume"), "{err}");
    let sha = sha256_hex(&body(300_000, 1));
    let partial = env.repo_dir().join(format!("blobs/{sha}.incomplete"));
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), 120_000);
    assert!(!env.repo_dir().join("snapshots").exists());
    let path = env.pull(REPO, &[]);
    assert_eq!(std::fs::read(&path).unwrap(), body(300_000, 1));
    assert_eq!(env.hub.sent("tiny-Q4_K_M.gguf"), 300_000);
    assert!(!partial.exists());
}

#[test]
fn a_stalled_download_times_out_and_resumes() {
    let env = Env::new("stall");
    env.hub
        .faults(|f| f.stall = Some(("tiny-Q4_K_M.gguf".into(), 50_000, Duration::from_secs(20))));
    let t0 = std::time::Instant::now();
    let path = env.pull(REPO, &[("BRISK_HF_STALL_SECS", "1")]);
    assert_eq!(std::fs::read(&path).unwrap(), body(300_000, 1));
    assert_eq!(env.hub.sent("tiny-Q4_K_M.gguf"), 300_000);
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "it waited out the stall"
    );
    let last = env
        .hub
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.contains("/cdn/"));
    assert!(last.unwrap().ends_with("[bytes=50000-]"));
}

#[cfg(unix)]
#[test]
fn ctrl_c_keeps_the_partial_file_and_exits_130() {
    let env = Env::new("ctrlc");
    env.hub
        .faults(|f| f.stall = Some(("tiny-Q4_K_M.gguf".into(), 60_000, Duration::from_secs(20))));
    let child = Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args(["pull", REPO])
        .env("HF_HOME", &env.home)
        .env("HF_ENDPOINT", &env.hub.endpoint)
        .env("XDG_CONFIG_HOME", &env.config)
        .env("BRISK_HF_STALL_SECS", "2")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let sha = sha256_hex(&body(300_000, 1));
    let partial = env.repo_dir().join(format!("blobs/{sha}.incomplete"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < 60_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "no partial file appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling a child this test spawned and still owns.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), 60_000);
    let path = env.pull(REPO, &[]);
    assert_eq!(std::fs::read(&path).unwrap(), body(300_000, 1));
    assert_eq!(env.hub.sent("tiny-Q4_K_M.gguf"), 300_000);
}

#[test]
fn transient_errors_are_retried() {
    let env = Env::new("retry");
    env.hub.faults(|f| f.unavailable = 3);
    let path = env.pull(REPO, &[]);
    assert_eq!(std::fs::read(&path).unwrap(), body(300_000, 1));
    let out = {
        env.hub.faults(|f| f.unavailable = 100);
        env.brisk(
            &["pull", &format!("{REPO}:Q8_0")],
            &[("BRISK_HF_RETRIES", "3")],
        )
    };
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("503"), "{}", stderr(&out));
}

#[test]
fn a_body_that_fails_its_sha256_leaves_nothing_behind() {
    let env = Env::new("hash");
    env.hub
        .faults(|f| f.corrupt = vec!["tiny-Q4_K_M.gguf".into()]);
    let out = env.brisk(&["pull", REPO], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("sha256 mismatch"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{err}"
    );
    let left: Vec<String> = files_under(&env.repo_dir())
        .into_iter()
        .filter(|f| !f.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn missing_repositories_and_tokens_are_one_clear_line() {
    let env = Env::new("auth");
    let out = env.brisk(&["pull", "org/nothing-here"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    let out = env.brisk(
        &["pull", &format!("{REPO}:Q4_K_M"), "--hf-file", "nope.gguf"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope.gguf"), "{}", stderr(&out));

    env.hub.faults(|f| f.token = Some("s3cret-token".into()));
    let out = env.brisk(&["pull", REPO], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HF_TOKEN"), "{}", stderr(&out));
    let out = env.brisk(&["pull", REPO], &[("HF_TOKEN", "wrong")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("refused the token"),
        "{}",
        stderr(&out)
    );
    let out = env.brisk(&["pull", REPO, "--hf-token", "s3cret-token"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out2 = env.brisk(
        &["pull", &format!("{REPO}:Q8_0")],
        &[("HF_TOKEN", "s3cret-token")],
    );
    assert!(out2.status.success(), "{}", stderr(&out2));
    for o in [&out, &out2] {
        assert!(!stderr(o).contains("s3cret") && !stdout(o).contains("s3cret"));
    }
    assert!(
        !env.hub.log(|l| l.cdn_saw_token),
        "the token went to the CDN"
    );
}

#[test]
fn offline_mode_and_commit_revisions_make_no_connection() {
    let env = Env::new("offline");
    let out = env.brisk(&["pull", REPO, "--offline"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not in the Hugging Face cache"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.hub.connections(), 0);
    let path = env.pull(REPO, &[]);
    let before = env.hub.connections();
    assert_eq!(env.pull(REPO, &[("HF_HUB_OFFLINE", "1")]), path);
    let out = env.brisk(&["pull", REPO, "--offline"], &[]);
    assert_eq!(PathBuf::from(stdout(&out).trim()), path);
    let commit = env.hub.commit(REPO);
    assert_eq!(env.pull(&format!("{REPO}@{commit}:Q4_K_M"), &[]), path);
    assert_eq!(env.hub.connections(), before, "offline use connected");
}

#[test]
fn a_cache_that_python_tools_filled_is_used_as_is() {
    let env = Env::new("python");
    // Laid out as huggingface_hub's hf_hub_download leaves it.
    let dir = env.home.join("hub/models--someone--py-GGUF");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let bytes = body(5000, 9);
    let sha = sha256_hex(&bytes);
    std::fs::create_dir_all(dir.join("blobs")).unwrap();
    std::fs::create_dir_all(dir.join(format!("snapshots/{commit}"))).unwrap();
    std::fs::create_dir_all(dir.join("refs")).unwrap();
    std::fs::write(dir.join(format!("blobs/{sha}")), &bytes).unwrap();
    std::fs::write(dir.join("refs/main"), commit).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        format!("../../blobs/{sha}"),
        dir.join(format!("snapshots/{commit}/py-Q4_K_M.gguf")),
    )
    .unwrap();
    #[cfg(unix)]
    {
        let path = env.pull("someone/py-GGUF", &[("HF_HUB_OFFLINE", "1")]);
        assert_eq!(std::fs::read(path).unwrap(), bytes);
        assert_eq!(env.hub.connections(), 0);
    }
}

#[test]
fn a_changed_etag_downloads_beside_the_working_copy_then_switches() {
    let env = Env::new("etag");
    let old = env.pull(REPO, &[]);
    // Same bytes, another ETag: nothing is downloaded again.
    env.hub.faults(|f| f.etag = Some("feedface".into()));
    assert_eq!(env.pull(REPO, &[]), old);
    assert_eq!(env.hub.sent("tiny-Q4_K_M.gguf"), 300_000);
    env.hub.faults(|f| f.etag = None);
    // New bytes whose download fails: the old copy still works, online and offline.
    env.hub
        .put(REPO, "tiny-Q4_K_M.gguf", body(300_000, 7), true);
    env.hub
        .faults(|f| f.cut = Some(("tiny-Q4_K_M.gguf".into(), 1000)));
    let out = env.brisk(&["pull", REPO], &[("BRISK_HF_RETRIES", "1")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&old).unwrap(), body(300_000, 1));
    let offline = env.pull(REPO, &[("HF_HUB_OFFLINE", "1")]);
    assert_eq!(std::fs::read(&offline).unwrap(), body(300_000, 1));
    // Then it completes: the new commit's snapshot, the ref switched, the old file intact.
    let new = env.pull(REPO, &[]);
    assert_ne!(new, old);
    assert_eq!(std::fs::read(&new).unwrap(), body(300_000, 7));
    assert_eq!(std::fs::read(&old).unwrap(), body(300_000, 1));
    let refs = std::fs::read_to_string(env.repo_dir().join("refs/main")).unwrap();
    assert_eq!(refs.trim(), env.hub.commit(REPO));
}

#[test]
fn a_safetensors_repository_is_fetched_whole() {
    let env = Env::new("checkpoint");
    let repo = "org/tiny-hf";
    env.hub.put(repo, "config.json", b"{}".to_vec(), false);
    env.hub.put(repo, "tokenizer.json", b"{}".to_vec(), false);
    env.hub.put(repo, "model.safetensors", body(4096, 5), true);
    env.hub.put(repo, "pytorch_model.bin", body(4096, 6), true);
    let dir = env.pull(repo, &[]);
    assert!(dir.is_dir());
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert!(!dir.join("pytorch_model.bin").exists());
    assert_eq!(env.hub.sent("pytorch_model.bin"), 0);
}

/// A sharded checkpoint: its index decides which .safetensors files are the model (not
/// Mistral's `consolidated.safetensors` copy), and a snapshot missing a shard is not cached.
#[test]
fn a_sharded_checkpoint_fetches_what_its_index_names_and_only_whole_is_cached() {
    let env = Env::new("shards");
    let repo = "org/sharded-hf";
    let index = serde_json::json!({"metadata": {}, "weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}});
    env.hub.put(repo, "config.json", b"{}".to_vec(), false);
    env.hub.put(
        repo,
        "model.safetensors.index.json",
        index.to_string().into_bytes(),
        false,
    );
    env.hub.put(
        repo,
        "model-00001-of-00002.safetensors",
        body(3000, 1),
        true,
    );
    env.hub.put(
        repo,
        "model-00002-of-00002.safetensors",
        body(3000, 2),
        true,
    );
    env.hub
        .put(repo, "consolidated.safetensors", body(6000, 3), true);
    let dir = env.pull(repo, &[]);
    assert!(dir.join("model-00002-of-00002.safetensors").is_file());
    assert!(!dir.join("consolidated.safetensors").exists());
    assert_eq!(env.hub.sent("consolidated.safetensors"), 0);
    // As a Ctrl-C during the second shard would leave it.
    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    let out = env.brisk(&["pull", repo, "--offline"], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an incomplete snapshot counted as cached"
    );
    let again = env.pull(repo, &[]);
    assert!(again.join("model-00002-of-00002.safetensors").is_file());
}

/// A signed download link that expires mid-transfer is replaced by a new one from the hub.
#[test]
fn an_expired_download_link_is_renewed() {
    let env = Env::new("expired");
    env.hub.faults(|f| f.expired = 1);
    let path = env.pull(REPO, &[]);
    assert_eq!(std::fs::read(&path).unwrap(), body(300_000, 1));
    let heads = env
        .hub
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("HEAD") && r.contains("tiny-Q4_K_M"))
        .count();
    assert_eq!(heads, 2, "{:?}", env.hub.requests());
}

#[test]
fn aliases_from_the_users_models_toml() {
    let env = Env::new("alias");
    let sha = sha256_hex(&body(200_000, 2));
    let dir = env.config.join("brisk");
    std::fs::create_dir_all(&dir).unwrap();
    let toml = format!(
        "[tiny]\nrepo = \"{REPO}\"\nfile = \"tiny-Q8_0.gguf\"\nsha256 = \"{sha}\"\n\n\
         [tiny-wrong]\nrepo = \"{REPO}\"\nquant = \"Q4_K_M\"\nsha256 = \"{}\"\n",
        "0".repeat(64)
    );
    std::fs::write(dir.join("models.toml"), toml).unwrap();
    let path = env.pull("tiny", &[]);
    assert!(path.ends_with("tiny-Q8_0.gguf"));
    let out = env.brisk(&["pull", "tiny-wrong"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("alias"), "{}", stderr(&out));
    let out = env.brisk(&["ls", "--aliases"], &[]);
    assert!(stdout(&out).contains("tiny-wrong") && stdout(&out).contains("tinyllama"));
    std::fs::write(dir.join("models.toml"), "[broken\n").unwrap();
    let out = env.brisk(&["pull", "tiny"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("models.toml"), "{}", stderr(&out));
}

#[test]
fn ls_lists_and_rm_frees_only_unshared_blobs() {
    let env = Env::new("lsrm");
    env.pull(REPO, &[]);
    env.pull(&format!("{REPO}:Q8_0"), &[]);
    let out = env.brisk(&["ls", "--json"], &[]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[0]["quant"], "Q4_K_M");
    assert_eq!(rows[0]["size"], 300_000);
    assert_eq!(rows[1]["quant"], "Q8_0");
    assert_eq!(rows[0]["repo"], REPO);
    let table = stdout(&env.brisk(&["ls"], &[]));
    assert!(
        table.starts_with("REPO") && table.contains("tiny-Q8_0.gguf"),
        "{table}"
    );

    let out = env.brisk(&["rm", &format!("{REPO}:q8_0")], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let blobs = files_under(&env.repo_dir().join("blobs"));
    let q4 = sha256_hex(&body(300_000, 1));
    assert!(blobs.iter().any(|b| b.ends_with(&q4)), "{blobs:?}");
    assert!(!blobs
        .iter()
        .any(|b| b.ends_with(&sha256_hex(&body(200_000, 2)))));
    let v: serde_json::Value =
        serde_json::from_slice(&env.brisk(&["ls", "--json"], &[]).stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    let out = env.brisk(&["rm", REPO], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!env.repo_dir().exists());
    let out = env.brisk(&["rm", REPO], &[]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn run_from_the_hub_gives_the_local_files_text() {
    let Some(fx) = common::fixtures() else {
        return;
    };
    let model = fx.join("models/prose-5m-q4_k_m.gguf");
    let env = Env::new("run");
    env.hub.put(
        "org/prose-GGUF",
        "prose-5m-Q4_K_M.gguf",
        std::fs::read(&model).unwrap(),
        true,
    );
    let args = ["-p", "Once upon a time", "-n", "24", "--temp", "0"];
    let local = env.brisk(
        &[&["run", "-m", model.to_str().unwrap()], &args[..]].concat(),
        &[],
    );
    assert!(local.status.success(), "{}", stderr(&local));
    let hub = env.brisk(
        &[&["run", "-hf", "org/prose-GGUF"], &args[..]].concat(),
        &[],
    );
    assert!(hub.status.success(), "{}", stderr(&hub));
    assert_eq!(stdout(&hub), stdout(&local));
    assert!(!stdout(&local).trim().is_empty());
    // And from the cache without the hub, under llama.cpp's spelling of the flags.
    let offline = env.brisk(
        &[
            &["run", "--hf-repo", "org/prose-GGUF:q4_k_m", "--offline"],
            &args[..],
        ]
        .concat(),
        &[],
    );
    assert_eq!(stdout(&offline), stdout(&local), "{}", stderr(&offline));
    // -hff names the file; -hfd fetches a draft model the same way (speculation keeps the
    // target's text).
    let spec = env.brisk(
        &[
            &[
                "run",
                "-hf",
                "org/prose-GGUF",
                "-hff",
                "prose-5m-Q4_K_M.gguf",
                "-hfd",
                "org/prose-GGUF",
            ],
            &args[..],
        ]
        .concat(),
        &[],
    );
    assert!(spec.status.success(), "{}", stderr(&spec));
    assert_eq!(stdout(&spec), stdout(&local));
}

/// On a terminal, stderr shows indicatif's bar (bytes, rate, ETA); in a pipe (every other
/// test here) it is a line per file.
#[cfg(unix)]
#[test]
fn a_terminal_gets_a_progress_bar() {
    use std::io::Read;
    let env = Env::new("bar");
    env.hub.faults(|f| {
        f.stall = Some((
            "tiny-Q4_K_M.gguf".into(),
            50_000,
            Duration::from_millis(800),
        ))
    });
    let (master, slave) = common::process::openpty();
    let mut child = Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args(["pull", REPO])
        .env("HF_HOME", &env.home)
        .env("HF_ENDPOINT", &env.hub.endpoint)
        .env("XDG_CONFIG_HOME", &env.config)
        .env("BRISK_HF_BACKOFF_MS", "20")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::from(slave))
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(master);
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n) = master.read(&mut chunk) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut path = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut path)
        .unwrap();
    assert!(path.trim().ends_with("tiny-Q4_K_M.gguf"), "{path}");
    let shown = reader.join().unwrap();
    assert!(shown.contains("ETA") && shown.contains("KiB"), "{shown:?}");
    assert!(!shown.contains("brisk: downloading"), "{shown:?}");
}

#[test]
fn an_unreachable_hub_falls_back_to_the_cached_copy_at_once() {
    let env = Env::new("unreachable");
    let path = env.pull(REPO, &[]);
    env.hub.faults(|f| f.unavailable = 1000);
    let t0 = std::time::Instant::now();
    let out = env.brisk(&["pull", REPO], &[("BRISK_HF_BACKOFF_MS", "3000")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(PathBuf::from(stdout(&out).trim()), path);
    assert!(stderr(&out).contains("cached copy"), "{}", stderr(&out));
    assert!(t0.elapsed() < Duration::from_secs(3), "it backed off first");
}
