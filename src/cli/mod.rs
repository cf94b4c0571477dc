//! The command line: one file per subcommand, shared argument groups, and the exit-code policy.
pub mod args;
pub mod bench;
pub mod chat;
pub mod chat_repl;
pub mod chat_ui;
pub mod chunk_args;
pub mod common;
pub mod convert;
pub mod flag_map;
pub mod gen_args;
pub mod imatrix;
pub use crate::interrupt;
pub mod llama_flags;
pub mod model_ref;
pub mod models;
pub mod output;
pub mod perplexity;
pub mod quantize;
pub mod quantize_export;
pub mod run;
pub mod spec_args;
pub mod tokenize;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::ffi::OsString;

/// How a subcommand ended, other than success.
pub enum Exit {
    /// Bad command line (exit 2).
    Usage(String),
    /// clap's own report (help, version, usage error).
    Clap(clap::Error),
    /// Ctrl-C (exit 130).
    Interrupted,
    /// Anything else (exit 1).
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Exit {
    fn from(e: anyhow::Error) -> Self {
        Exit::Runtime(e)
    }
}

pub type CliResult = Result<(), Exit>;

#[derive(Parser)]
#[command(
    name = "brisk",
    version,
    about = "Run large language models locally (GGUF and safetensors)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text from one prompt (-p, -f, or standard input).
    Run(run::RunArgs),
    /// Chat with a model through its chat template (interactive on a terminal; one turn per
    /// input line in a pipe).
    Chat(chat::ChatArgs),
    /// Measure prompt-processing and generation speed (llama-bench compatible).
    Bench(bench::BenchArgs),
    /// Show how a model's tokenizer splits text.
    Tokenize(tokenize::TokenizeArgs),
    /// Perplexity of a model on a text, and KL-divergence against a base model
    /// (llama-perplexity compatible: same method, output and base-logits files).
    Perplexity(perplexity::PerplexityArgs),
    /// Compute an importance matrix over a calibration text (llama-imatrix compatible files,
    /// for `quantize --imatrix`).
    Imatrix(imatrix::ImatrixArgs),
    /// Quantize a GGUF model or Hugging Face checkpoint (llama-quantize compatible: same
    /// types, rules and bytes).
    Quantize(quantize::QuantizeArgs),
    /// Speculative decoding: `run` with a draft model (-md FILE) or n-gram lookup (--lookup)
    /// proposing tokens the target verifies in one forward (llama-speculative's flags); the
    /// output is the target's own, and --compare measures the speedup.
    Speculate(run::RunArgs),
    /// Convert a Hugging Face safetensors checkpoint to GGUF (as llama.cpp's
    /// convert_hf_to_gguf.py writes it), optionally quantizing on the way.
    Convert(convert::ConvertArgs),
    /// Download a model into the Hugging Face cache (an alias or user/repo[:QUANT]) and
    /// print its local path.
    Pull(models::PullArgs),
    /// List the models in the Hugging Face cache (repository, file, quant, size, last use).
    Ls(models::LsArgs),
    /// Remove a model from the Hugging Face cache, freeing the files no other model uses.
    Rm(models::RmArgs),
}

/// The whole command line's definition (for `args::prepare` outside `main`: fuzzing, tests).
pub fn command() -> clap::Command {
    Cli::command()
}

pub fn main(argv: Vec<OsString>) -> CliResult {
    let prepared = args::prepare(argv, &Cli::command()).map_err(Exit::Usage)?;
    let verbose = prepared.argv.iter().any(|a| a == "--verbose" || a == "-v");
    if prepared.argv.iter().skip(2).any(|a| a == "--list-devices") {
        // As llama.cpp: list and exit, whatever else the line asks (no model needed).
        let lines = common::device_lines();
        let mut out = std::io::stdout().lock();
        use std::io::Write;
        let _ = writeln!(out, "Available devices:");
        if lines.is_empty() {
            let _ = writeln!(out, "  (none: brisk runs on the CPU)");
        }
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        return Ok(());
    }
    // As in llama.cpp, a repeated option's last value wins (`-n 8 ... -n 16`).
    let command = Cli::command().mut_subcommands(|s| s.args_override_self(true));
    let matches = command
        .try_get_matches_from(prepared.argv)
        .map_err(Exit::Clap)?;
    let cli = Cli::from_arg_matches(&matches).map_err(Exit::Clap)?;
    if verbose {
        for note in &prepared.notes {
            eprintln!("{note}");
        }
    }
    match cli.command {
        Command::Run(a) => run::main(a),
        Command::Speculate(a) => run::speculate(a),
        Command::Chat(a) => chat::main(a),
        Command::Tokenize(a) => tokenize::main(a),
        Command::Quantize(a) => quantize::main(a),
        Command::Convert(a) => convert::main(a),
        Command::Perplexity(a) => perplexity::main(a),
        Command::Imatrix(a) => imatrix::main(a),
        Command::Bench(a) => bench::main(a),
        Command::Pull(a) => models::pull(a),
        Command::Ls(a) => models::ls(a),
        Command::Rm(a) => models::rm(a),
    }
}
