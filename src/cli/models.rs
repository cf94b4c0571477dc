//! `brisk pull REF` (download into the Hugging Face cache, print the local path), `brisk ls`
//! (the cached models, or `--aliases`; `--json`) and `brisk rm REF` (free what only it uses).
use super::model_ref::{repo_ref, HubArgs};
use super::{CliResult, Exit};
use crate::hub::{aliases, inventory, progress::bytes};
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// An alias from models.toml, or a Hugging Face repository: user/repo[@REVISION][:QUANT]
    /// (QUANT case-insensitive, default Q4_K_M, else the first GGUF; a repository without
    /// GGUF files is fetched as a safetensors checkpoint).
    pub reference: String,
    /// The file to take from the repository instead of a quant.
    #[arg(long = "hf-file")]
    pub hf_file: Option<String>,
    #[command(flatten)]
    pub hub: HubArgs,
    /// Log nothing to stderr but errors.
    #[arg(long = "quiet")]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// One JSON array instead of a table.
    #[arg(long = "json")]
    pub json: bool,
    /// List the aliases `-m NAME` accepts instead of the cache.
    #[arg(long = "aliases")]
    pub aliases: bool,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// What to remove: an alias, user/repo:QUANT (that quant's files), or user/repo (all of it).
    pub reference: String,
    /// Remove this file of the repository.
    #[arg(long = "hf-file")]
    pub hf_file: Option<String>,
}

pub fn pull(a: PullArgs) -> CliResult {
    let hub = a.hub.hub(a.quiet);
    let (r, pin) = repo_ref(&a.reference, a.hf_file.as_deref())?;
    let path = hub.resolve(&r, pin.as_deref()).map_err(interrupted)?;
    println!("{}", path.display());
    Ok(())
}

/// A download stopped by Ctrl-C exits 130 after its one line.
pub fn interrupted(e: anyhow::Error) -> Exit {
    if e.root_cause().to_string() == crate::hub::INTERRUPTED {
        eprintln!("brisk: {}", crate::hub::INTERRUPTED);
        return Exit::Interrupted;
    }
    Exit::Runtime(e)
}

pub fn ls(a: LsArgs) -> CliResult {
    let mut out = std::io::stdout().lock();
    if a.aliases {
        let all = aliases::all()?;
        if a.json {
            let v: Vec<serde_json::Value> = all
                .iter()
                .map(|(name, x)| {
                    serde_json::json!({"name": name, "repo": x.repo, "file": x.file,
                        "quant": x.quant, "arch": x.arch, "template": x.template})
                })
                .collect();
            return write_out(
                &mut out,
                &serde_json::to_string_pretty(&v).unwrap_or_default(),
            );
        }
        let mut text = String::new();
        for (name, x) in &all {
            let what = x.file.clone().or(x.quant.clone()).unwrap_or_default();
            text.push_str(&format!("{name:<36} {} {what}\n", x.repo));
        }
        return write_out(&mut out, text.trim_end());
    }
    let hub = HubArgs::default().hub(true);
    let entries = inventory::list(&hub.cache);
    if a.json {
        let text = serde_json::to_string_pretty(&entries).unwrap_or_default();
        return write_out(&mut out, &text);
    }
    if entries.is_empty() {
        eprintln!("brisk: no models in {}", hub.cache.root.display());
        return Ok(());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            let file = match e.files.len() {
                n if n > 1 && e.file != "(checkpoint)" => format!("{} ({n} parts)", e.file),
                _ => e.file.clone(),
            };
            [
                e.repo.clone(),
                file,
                e.quant.clone().unwrap_or_else(|| "-".into()),
                bytes(e.size),
                e.last_used
                    .map_or("-".into(), |t| ago(now.saturating_sub(t))),
            ]
        })
        .collect();
    let header = ["REPO", "FILE", "QUANT", "SIZE", "LAST USED"].map(String::from);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    write_out(&mut out, text.trim_end())
}

pub fn rm(a: RmArgs) -> CliResult {
    let hub = HubArgs::default().hub(false);
    let (r, _) = repo_ref(&a.reference, a.hf_file.as_deref())?;
    let done = inventory::remove(&hub.cache, &r)?;
    eprintln!(
        "brisk: removed {} {} of {}, freed {}",
        done.files,
        super::common::plural(done.files, "file", "files"),
        r.repo,
        bytes(done.freed)
    );
    Ok(())
}

/// A line of output; a closed pipe (`| head`) is not an error.
fn write_out(out: &mut impl Write, text: &str) -> CliResult {
    match writeln!(out, "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Exit::Runtime(e.into())),
        _ => Ok(()),
    }
}

/// `7200` → `2 hours ago`.
fn ago(secs: u64) -> String {
    let (n, unit) = match secs {
        s if s < 120 => return "just now".into(),
        s if s < 7200 => (s / 60, "minutes"),
        s if s < 172_800 => (s / 3600, "hours"),
        s => (s / 86_400, "days"),
    };
    format!("{n} {unit} ago")
}
