//! Running the `brisk` binary from tests: with stdin and a time limit, capturing both streams,
//! and interrupting it as a terminal's Ctrl-C would once it reports it is generating.
use std::io::{BufRead, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A new pseudo-terminal (40 rows, 200 columns): its master and slave ends.
#[cfg(unix)]
pub fn openpty() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let ws = libc::winsize {
        ws_row: 40,
        ws_col: 200,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors into `master` and `slave`; the name and
    // termios arguments may be null, and `ws` outlives the call.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    assert_eq!(rc, 0, "openpty failed");
    // SAFETY: both descriptors were just returned by openpty and are owned by nobody else.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        )
    }
}

pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Run `brisk ARGS` with `stdin` written to it; fails the test past `limit`.
pub fn brisk_limited(args: &[&str], stdin: &[u8], limit: Duration) -> Outcome {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn brisk");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let t_in = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        out.read_to_end(&mut s).ok();
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        err.read_to_end(&mut s).ok();
        s
    });
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("brisk {args:?} ran past {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = t_in.join();
    Outcome {
        code,
        stdout: String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
        elapsed: t0.elapsed(),
    }
}

/// `brisk_limited` with a 120 s limit.
pub fn brisk(args: &[&str], stdin: &[u8]) -> Outcome {
    brisk_limited(args, stdin, Duration::from_secs(120))
}

/// Start `cmd` (stdout piped), wait for the seed line brisk prints just before it starts work,
/// then send SIGINT after `delay`. Returns the child and the rest of its stderr reader.
pub fn interrupt_after_seed(
    cmd: &mut Command,
    delay: Duration,
) -> (Child, std::io::BufReader<std::process::ChildStderr>) {
    interrupt_after_line(cmd, "seed", delay)
}

/// `interrupt_after_seed` for any stderr line containing `needle`.
pub fn interrupt_after_line(
    cmd: &mut Command,
    needle: &str,
    delay: Duration,
) -> (Child, std::io::BufReader<std::process::ChildStderr>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains(needle) {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "no line with {needle:?}"
        );
    }
    std::thread::sleep(delay);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    (child, err)
}

/// Run `brisk ARGS` and check it fails as bad input must: exit `code`, a last stderr line that
/// contains `needle` and reads as a plain message. Returns the outcome for further checks.
pub fn assert_fails_with(args: &[&str], code: i32, needle: &str) -> Outcome {
    let r = brisk(args, b"");
    assert_eq!(r.code, Some(code), "{args:?}: {}", r.stderr);
    let last = r.stderr.trim_end().lines().last().unwrap_or("");
    assert!(last.contains(needle), "{args:?}: {:?}", r.stderr);
    super::assert_plain_message(last);
    r
}

/// Run `brisk ARGS`, send Ctrl-C `delay` after stderr shows a line containing `line`, and
/// return the exit code.
pub fn exit_code_when_interrupted(args: &[&str], line: &str, delay: Duration) -> Option<i32> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_brisk"));
    cmd.args(args);
    let (mut child, _) = interrupt_after_line(&mut cmd, line, delay);
    child.wait().unwrap().code()
}
