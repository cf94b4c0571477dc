//! `brisk chat` driven through a real pseudo-terminal, as a person at a terminal drives it:
//! typed lines, Ctrl-C (the byte 0x03, turned into SIGINT by the terminal) in the middle of a
//! reply, slash commands, Ctrl-D; with the trained stories260K model and with a random-weight model
//! carrying a real chat template. Every read has a deadline, so a hang fails the test instead of
//! stalling the suite.
mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// A child running on the slave side of a pseudo-terminal; stderr is captured separately.
struct Pty {
    child: Child,
    master: File,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    /// How much of `out` / `err` earlier `expect` calls consumed.
    out_seen: usize,
    err_seen: usize,
}

fn drain(mut r: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        // A pty master reads EIO once the child and every slave descriptor are gone.
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buf
}

impl Pty {
    fn spawn(args: &[&str], data_home: &Path) -> Pty {
        let (master, slave) = common::process::openpty();
        let slave = File::from(slave);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_brisk"));
        cmd.args(args)
            .env("XDG_DATA_HOME", data_home)
            .env("TERM", "xterm")
            .env_remove("NO_COLOR")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::piped());
        // SAFETY: between fork and exec only async-signal-safe calls are made: setsid gives the
        // child its own session, and TIOCSCTTY makes its stdin (the pty slave) the controlling
        // terminal, so the terminal turns a typed Ctrl-C into SIGINT for it.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("spawn brisk chat");
        drop(cmd);
        drop(slave);
        let err = drain(child.stderr.take().unwrap());
        let master = File::from(master);
        let out = drain(master.try_clone().unwrap());
        Pty {
            child,
            master,
            out,
            err,
            out_seen: 0,
            err_seen: 0,
        }
    }

    fn send(&mut self, bytes: &str) {
        self.master.write_all(bytes.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    fn text(buf: &Arc<Mutex<Vec<u8>>>) -> String {
        String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
    }

    fn report(&self) -> String {
        format!(
            "--- terminal ---\n{}\n--- stderr ---\n{}",
            Self::text(&self.out),
            Self::text(&self.err)
        )
    }

    /// Wait until `needle` appears in the terminal output after what earlier calls consumed;
    /// returns the output up to and including it.
    fn expect_out(&mut self, needle: &str) -> String {
        let (s, end) = self.wait(true, needle);
        self.out_seen = end;
        s
    }

    /// The same for stderr.
    fn expect_err(&mut self, needle: &str) -> String {
        let (s, end) = self.wait(false, needle);
        self.err_seen = end;
        s
    }

    fn wait(&self, out: bool, needle: &str) -> (String, usize) {
        let t0 = Instant::now();
        loop {
            let (buf, seen) = if out {
                (&self.out, self.out_seen)
            } else {
                (&self.err, self.err_seen)
            };
            let bytes = buf.lock().unwrap()[seen..].to_vec();
            let s = String::from_utf8_lossy(&bytes).into_owned();
            if let Some(at) = s.find(needle) {
                let upto = &s[..at + needle.len()];
                return (upto.to_string(), seen + upto.len());
            }
            if t0.elapsed() > DEADLINE {
                panic!("timed out waiting for {needle:?}\n{}", self.report());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The next `--stats` line on stderr, from its prompt counts to its finish reason.
    fn stats_line(&mut self) -> String {
        self.expect_err("brisk: prompt ");
        self.expect_err("\n")
    }

    /// Wait for the child to exit (with a deadline) and return its status code.
    fn wait_exit(&mut self) -> Option<i32> {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            if t0.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("brisk chat did not exit\n{}", self.report());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `N tokens (C cached, K new)` at the start of a `--stats` line.
fn stats_counts(line: &str) -> (usize, usize, usize) {
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(3)
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1], nums[2])
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("brisk-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn stories_three_turns_reset_save_load_in_a_terminal() {
    let Some(fx) = common::fixtures() else { return };
    let dir = temp_dir("pty-stories");
    let model = fx.join("models/stories260K.gguf");
    let save = dir.join("conv.json");
    let mut p = Pty::spawn(
        &[
            "chat",
            "-m",
            model.to_str().unwrap(),
            "--chat-template",
            "chatml",
            "-sys",
            "You tell stories.",
            "--temp",
            "0",
            "-n",
            "12",
            "-c",
            "512",
            "--stats",
            "--color",
            "never",
            "-t",
            "1",
        ],
        &dir,
    );
    p.expect_err("/help for commands");
    p.expect_out("> ");
    let mut stats = Vec::new();
    // The second message is typed over two lines (a trailing backslash), the third is pasted
    // as one block (bracketed paste, as a terminal wraps a paste).
    let typed: [&[&str]; 3] = [
        &["Once upon a time\r"],
        &["Lily went\\\r", "to the park\r"],
        &["\x1b[200~The end.\nThe real end.\x1b[201~\r"],
    ];
    for lines in typed {
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                // The continuation prompt: typing ahead of it may be discarded.
                p.expect_out(". ");
            }
            p.send(line);
        }
        stats.push(stats_counts(&p.stats_line()));
        p.expect_out("> ");
    }
    let ((p1, c1, n1), (p2, c2, n2), (p3, c3, n3)) = (stats[0], stats[1], stats[2]);
    assert_eq!(
        (c1, n1),
        (0, p1),
        "the first turn evaluates its whole prompt"
    );
    // Later turns reuse at least the whole previous prompt from the KV cache and evaluate only
    // what follows it.
    assert!(c2 >= p1 && n2 == p2 - c2, "turn 2: {:?}", stats[1]);
    assert!(c3 >= p2 && n3 == p3 - c3, "turn 3: {:?}", stats[2]);

    p.send(&format!("/save {}\r", save.display()));
    p.expect_err("saved 7 messages");
    p.send("/reset\r");
    p.expect_err("conversation reset");
    p.send("/stats\r");
    p.expect_err("1 messages");
    p.send(&format!("/load {}\r", save.display()));
    p.expect_err("loaded 7 messages");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&save).unwrap()).unwrap();
    assert_eq!(saved["messages"][0]["content"], "You tell stories.");
    assert_eq!(saved["messages"][3]["content"], "Lily went\nto the park");
    assert_eq!(saved["messages"][5]["content"], "The end.\nThe real end.");
    p.send("And then?\r");
    let (pl, _, _) = stats_counts(&p.stats_line());
    assert!(
        pl > p3,
        "after /load the old turns are back in the prompt: {pl} vs {p3}"
    );
    p.expect_out("> ");
    p.send("\u{4}");
    assert_eq!(p.wait_exit(), Some(0), "{}", p.report());
    assert!(dir.join("brisk/chat_history").is_file(), "history file");
    assert!(!p.report().contains("panicked"), "{}", p.report());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn random_model_ctrl_c_mid_reply_then_context_overflow() {
    let Some(fx) = common::fixtures() else { return };
    let dir = temp_dir("pty-random");
    let model = dir.join("phi3-random.gguf");
    let template =
        std::fs::read_to_string(fx.join("templates/microsoft-Phi-3.5-mini-instruct.jinja"))
            .unwrap();
    common::random_model::write(
        &fx.join("tokenizers/gguf/ggml-vocab-phi-3.gguf"),
        &template,
        &model,
    );
    let mut p = Pty::spawn(
        &[
            "chat",
            "-m",
            model.to_str().unwrap(),
            "--temp",
            "0",
            "-c",
            "400",
            "--stats",
            "--color",
            "always",
            "-t",
            "1",
        ],
        &dir,
    );
    p.expect_err("chat template: the model's");
    p.expect_out("> ");
    // A reply of a random model with no end-of-turn in reach runs until the context is full;
    // Ctrl-C once it has started printing.
    p.send("Tell me everything\r");
    p.expect_out("\x1b[33m");
    p.expect_out(" ");
    p.send("\u{3}");
    p.expect_err("reply stopped");
    let line = p.stats_line();
    assert!(line.ends_with("· interrupted\n"), "{line}");
    p.expect_out("> ");
    // What was printed before Ctrl-C stays in the conversation.
    let save = dir.join("after-ctrl-c.json");
    p.send(&format!("/save {}\r", save.display()));
    p.expect_err("saved 2 messages");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&save).unwrap()).unwrap();
    assert_eq!(saved["messages"][1]["role"], "assistant");
    assert!(
        !saved["messages"][1]["content"].as_str().unwrap().is_empty(),
        "{saved}"
    );
    p.expect_out("> ");
    // The next reply fills the context and is cut; the one after drops the oldest turns.
    p.send("Go on\r");
    p.expect_err("context is full: reply cut");
    p.expect_out("> ");
    p.send("More\r");
    p.expect_err("dropped the");
    p.expect_err("reply cut");
    p.expect_out("> ");
    p.send("/stats\r");
    p.expect_err("moved by context shifts");
    // Ctrl-C at an empty prompt leaves with status 0.
    p.send("\u{3}");
    assert_eq!(p.wait_exit(), Some(0), "{}", p.report());
    assert!(!p.report().contains("panicked"), "{}", p.report());
    std::fs::remove_dir_all(&dir).ok();
}
