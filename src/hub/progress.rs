//! Download progress on stderr: an indicatif bar (bytes, rate, ETA) on a terminal, otherwise a
//! line when a file starts and one when it ends; nothing with `--quiet`.
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

pub struct Progress {
    mode: Mode,
    bar: Option<ProgressBar>,
    started: Option<(String, Instant, u64)>,
    last: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bar,
    Lines,
    Quiet,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        Progress {
            mode,
            bar: None,
            started: None,
            last: 0,
        }
    }

    /// A line of its own (above the bar when there is one).
    pub fn note(&mut self, msg: &str) {
        match (&self.bar, self.mode) {
            (_, Mode::Quiet) => {}
            (Some(bar), _) => bar.println(format!("brisk: {msg}")),
            (None, _) => eprintln!("brisk: {msg}"),
        }
    }

    /// A transfer of `what` begins at byte `from` of `total`.
    pub fn start(&mut self, what: &str, total: Option<u64>, from: u64) {
        self.last = from;
        if self.started.as_ref().map(|s| s.0.as_str()) != Some(what) {
            self.started = Some((what.to_string(), Instant::now(), from));
        }
        match self.mode {
            Mode::Quiet => {}
            Mode::Lines => {
                let size = total
                    .map(|t| format!(" ({})", bytes(t)))
                    .unwrap_or_default();
                match from {
                    0 => eprintln!("brisk: downloading {what}{size}"),
                    _ => eprintln!("brisk: resuming {what}{size} at {}", bytes(from)),
                }
            }
            Mode::Bar => {
                let bar = match total {
                    Some(t) => ProgressBar::new(t),
                    None => ProgressBar::new_spinner(),
                };
                let style = ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                )
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.set_message(what.to_string());
                bar.set_position(from);
                if let Some(old) = self.bar.replace(bar) {
                    old.finish_and_clear();
                }
            }
        }
    }

    pub fn advance(&mut self, position: u64) {
        self.last = position;
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        }
    }

    /// The transfer reached its end (verification may still refuse it).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if let (Some((what, t0, from)), Mode::Lines | Mode::Bar) = (self.started.take(), self.mode)
        {
            let secs = t0.elapsed().as_secs_f64().max(1e-3);
            let moved = self.last.saturating_sub(from);
            eprintln!(
                "brisk: {what}: {} in {secs:.1} s ({}/s)",
                bytes(self.last),
                bytes((moved as f64 / secs) as u64)
            );
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}

/// `1536` → `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{n} B"),
        _ => format!("{v:.1} {}", UNITS[unit]),
    }
}
