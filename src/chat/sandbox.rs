//! Limits on rendering a chat template, which comes from a model file and so is untrusted: an
//! instruction budget (minijinja's fuel, so loops end), an output size, and a watchdog over the
//! render for what fuel cannot see — wall-clock time and memory growth (one instruction can
//! double a string) — and Ctrl-C. A render thread cannot be stopped from outside, so a breach
//! the watchdog sees ends the process with one line naming the limit.
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Instructions one render may execute (a 1000-message conversation takes well under 10⁶).
pub const FUEL: u64 = 50_000_000;
/// Bytes one render may produce.
pub const MAX_OUTPUT: usize = 64 << 20;
/// Wall-clock time one render may take.
pub const MAX_TIME: Duration = Duration::from_secs(10);
/// Memory one render may add to the process (resident set growth).
pub const MAX_GROWTH: u64 = 1 << 30;

/// Resident set size of this process in bytes, where the OS tells (Linux).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Run `render` under the watchdog; `cancelled` is polled for Ctrl-C.
pub fn watch<T: Send>(render: impl FnOnce() -> T + Send, cancelled: &dyn Fn() -> bool) -> T {
    let start = Instant::now();
    let base = rss_bytes();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        scope.spawn(move || {
            let _ = tx.send(render());
        });
        let mut wait = Duration::from_millis(1);
        loop {
            match rx.recv_timeout(wait) {
                Ok(v) => return v,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // The render panicked; re-raising it keeps the panic's own report.
                    panic!("the chat template render thread panicked")
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            wait = (wait * 2).min(Duration::from_millis(20));
            if cancelled() {
                eprintln!("brisk: interrupted while rendering the chat template");
                std::process::exit(130);
            }
            if start.elapsed() > MAX_TIME {
                abort(&format!(
                    "the chat template ran past the {} s limit",
                    MAX_TIME.as_secs()
                ));
            }
            if let (Some(b), Some(now)) = (base, rss_bytes()) {
                if now.saturating_sub(b) > MAX_GROWTH {
                    abort(&format!(
                        "the chat template used more than {} MiB of memory",
                        MAX_GROWTH >> 20
                    ));
                }
            }
        }
    })
}

fn abort(what: &str) -> ! {
    eprintln!("error: {what} (use --chat-template to choose another template)");
    std::process::exit(1);
}
