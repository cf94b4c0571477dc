//! brisk's handling of each llama.cpp flag (the flags themselves are in `llama_flags.rs`): the
//! brisk option it is, a harmless flag accepted and ignored (with the reason, shown under `-v`),
//! a feature brisk does not have yet, or — for every flag not named here — not supported.

/// What brisk does with one llama.cpp spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handling {
    /// The same option under brisk's long name.
    Brisk(&'static str),
    /// Accepted (its value too) and ignored, for this reason.
    Ignored(&'static str),
    /// Refused until the named brisk feature exists.
    Later(&'static str),
    /// Refused: brisk has no such option.
    Unsupported,
}

use Handling::*;

const GPU: &str = "brisk runs on one GPU (-ngl N, --device NAME, --list-devices)";
const SPECULATIVE: &str =
    "brisk's speculative decoding is -md FILE or --lookup, with --draft-max, --draft-min, \
     --draft-p-min, -td, -ctkd and -ctvd; it has no such setting";
const DOWNLOAD: &str =
    "brisk downloads from Hugging Face repositories (-hf user/repo[:QUANT]) or by alias (-m NAME)";
const CPU_ONLY: &str = "every layer and the KV cache are on the CPU already";

/// How brisk treats a llama.cpp common/cli flag given to subcommand `sub`, by any of its
/// spellings (`name` without an `=value`). `None`: not a llama.cpp flag at all.
pub fn common(name: &str, sub: &str) -> Option<Handling> {
    let flag = super::llama_flags::COMMON
        .iter()
        .find(|f| f.names.contains(&name) || f.negs.contains(&name))?;
    let negated = flag.negs.contains(&name);
    let primary = flag.names.last().copied().unwrap_or(name);
    let conversation = matches!(
        primary,
        "--conversation" | "--interactive" | "--interactive-first"
    );
    Some(if primary == "--output-frequency" {
        // llama-imatrix's -ofreq: brisk imatrix's own option, no other subcommand's.
        if sub == "imatrix" {
            Brisk("--output-frequency")
        } else {
            Unsupported
        }
    } else if conversation && !negated {
        if sub == "chat" {
            Ignored("brisk chat is a conversation already")
        } else {
            Later("brisk run answers one prompt; brisk chat is the conversation mode")
        }
    } else if negated {
        negated_handling(primary)
    } else {
        handling(primary)
    })
}

/// Handling of a flag by its last (long) name.
fn handling(primary: &str) -> Handling {
    match primary {
        "--usage" => Brisk("--help"),
        "--version" => Brisk("--version"),
        "--threads" => Brisk("--threads"),
        "--ctx-size" => Brisk("--ctx-size"),
        "--n-predict" => Brisk("--n-predict"),
        "--keep" => Brisk("--keep"),
        "--prompt" => Brisk("--prompt"),
        "--file" => Brisk("--file"),
        "--system-prompt" => Brisk("--system-prompt"),
        "--system-prompt-file" => Brisk("--system-prompt-file"),
        "--escape" => Brisk("--escape"),
        "--reverse-prompt" => Brisk("--stop"),
        "--special" => Brisk("--special"),
        "--single-turn" => Brisk("--single-turn"),
        "--in-prefix" => Brisk("--in-prefix"),
        "--in-suffix" => Brisk("--in-suffix"),
        "--seed" => Brisk("--seed"),
        "--ignore-eos" => Brisk("--ignore-eos"),
        "--temperature" => Brisk("--temp"),
        "--top-k" => Brisk("--top-k"),
        "--top-p" => Brisk("--top-p"),
        "--min-p" => Brisk("--min-p"),
        "--repeat-last-n" => Brisk("--repeat-last-n"),
        "--repeat-penalty" => Brisk("--repeat-penalty"),
        "--presence-penalty" => Brisk("--presence-penalty"),
        "--frequency-penalty" => Brisk("--frequency-penalty"),
        "--grammar" => Brisk("--grammar"),
        "--grammar-file" => Brisk("--grammar-file"),
        "--json-schema" => Brisk("--json-schema"),
        "--json-schema-file" => Brisk("--json-schema-file"),
        "--cache-type-k" => Brisk("--cache-type-k"),
        "--cache-type-v" => Brisk("--cache-type-v"),
        "--model" => Brisk("--model"),
        "--chat-template" | "--chat-template-file" => Brisk("--chat-template"),
        "--color" => Brisk("--color"),
        "--log-verbose" => Brisk("--verbose"),
        "--log-disable" => Brisk("--quiet"),
        "--load-mode" => Brisk("--load-mode"),

        "--threads-batch" => Ignored("brisk uses the -t threads for prompt processing too"),
        "--batch-size" | "--ubatch-size" => Ignored("brisk sizes its prompt batches itself"),
        "--flash-attn" => Ignored("brisk's attention is always tiled (flash attention)"),
        "--swa-full" => Ignored("brisk keeps the full KV cache for sliding-window layers"),
        "--perf" | "--show-timings" => {
            Ignored("brisk prints timings on stderr (--quiet hides them)")
        }
        "--warmup" => Ignored("brisk needs no warm-up run"),
        "--jinja" => Ignored("brisk always renders chat templates with Jinja"),
        "--simple-io" | "--log-colors" | "--log-prefix" | "--log-timestamps" => {
            Ignored("brisk's logging is plain lines on stderr")
        }
        "--prio" | "--poll" | "--prio-batch" | "--poll-batch" => {
            Ignored("brisk's thread pool sets its own scheduling")
        }
        "--kv-offload" | "--no-host" | "--op-offload" | "--cpu-moe" | "--n-cpu-moe"
        | "--n-cpu-ffn" => Ignored(CPU_ONLY),
        "--repack" => Ignored("brisk repacks the weight types it has packed kernels for"),
        "--defrag-thold" => Ignored("brisk's paged KV cache needs no defragmenting"),
        "--offline" => Brisk("--offline"),

        "--n-gpu-layers" => Brisk("--n-gpu-layers"),
        "--device" => Brisk("--device"),
        "--list-devices" => Brisk("--list-devices"),
        "--split-mode" | "--tensor-split" | "--main-gpu" | "--fit" | "--fit-target"
        | "--fit-ctx" | "--rpc" => Later(GPU),
        "--hf-repo" => Brisk("--hf-repo"),
        "--hf-file" => Brisk("--hf-file"),
        "--hf-token" => Brisk("--hf-token"),
        "--model-url" | "--docker-repo" => Later(DOWNLOAD),
        "--model-draft" => Brisk("--model-draft"),
        "--draft-max" | "--spec-draft-n-max" => Brisk("--draft-max"),
        "--draft-n-min" | "--spec-draft-n-min" => Brisk("--draft-min"),
        "--draft-p-min" => Brisk("--draft-p-min"),
        "--threads-draft" => Brisk("--threads-draft"),
        "--cache-type-k-draft" => Brisk("--cache-type-k-draft"),
        "--cache-type-v-draft" => Brisk("--cache-type-v-draft"),
        "--threads-batch-draft" => Ignored("the draft model evaluates with its -td threads"),
        "--n-gpu-layers-draft" | "--device-draft" => Later(GPU),
        "--hf-repo-draft" => Brisk("--hf-repo-draft"),
        p if p.starts_with("--spec-") || p.starts_with("--draft") => Later(SPECULATIVE),
        _ => Unsupported,
    }
}

/// Handling of a flag's negated spelling (`--no-warmup`), by the positive flag's long name.
fn negated_handling(primary: &str) -> Handling {
    match primary {
        "--display-prompt" => Ignored("brisk never echoes the prompt"),
        "--warmup" => Ignored("brisk needs no warm-up run"),
        "--perf" | "--show-timings" => Ignored("--quiet hides brisk's timings"),
        "--escape" => Brisk("--no-escape"),
        "--kv-offload" | "--op-offload" | "--mmproj-offload" => Ignored(CPU_ONLY),
        "--conversation" => Ignored("brisk run never enters conversation mode (brisk chat does)"),
        "--repack" => Unsupported,
        "--log-prefix" | "--log-timestamps" | "--log-jsonl" => {
            Ignored("brisk's logging is plain lines on stderr")
        }
        _ => Unsupported,
    }
}

/// A value that makes an otherwise refused flag harmless (`-ngl 0`: no GPU layers, which is what
/// brisk does).
pub fn harmless_value(primary_or_name: &str, value: &str) -> Option<&'static str> {
    match (primary_or_name, value) {
        (
            "-ngl"
            | "--gpu-layers"
            | "--n-gpu-layers"
            | "-ngld"
            | "--gpu-layers-draft"
            | "--n-gpu-layers-draft"
            | "--spec-draft-ngl",
            "0",
        ) => Some("no layers on a GPU: brisk runs on the CPU"),
        ("-sm" | "--split-mode", "none") => Some("no split: brisk runs on one CPU"),
        ("-dev" | "--device", "none") => Some("no device: brisk runs on the CPU"),
        ("--spec-type", "draft-simple") => Some("brisk drafts with the -md model"),
        _ => None,
    }
}

/// How brisk treats a `llama-bench` flag. `None`: not a llama-bench flag.
pub fn bench(name: &str) -> Option<Handling> {
    let (names, _) = super::llama_flags::BENCH
        .iter()
        .find(|(names, _)| names.contains(&name))?;
    let primary: &'static str = names.last().copied().unwrap_or("");
    Some(match primary {
        "--help" | "--version" | "--model" | "--n-prompt" | "--n-gen" | "-pg" | "--n-depth"
        | "--cache-type-k" | "--cache-type-v" | "--threads" | "--repetitions" | "--output" => {
            Brisk(if primary == "-pg" { "--pg" } else { primary })
        }
        "--flash-attn" => Ignored("brisk's attention is always tiled (flash attention)"),
        "--batch-size" | "--ubatch-size" => Ignored("brisk sizes its prompt batches itself"),
        "--progress" | "--verbose" => Ignored("brisk bench reports each result as it finishes"),
        "--no-warmup" => Ignored("brisk bench runs one untimed warm-up either way"),
        "--prio" | "--poll" => Ignored("brisk's thread pool sets its own scheduling"),
        "--no-kv-offload" | "--no-op-offload" | "--no-host" | "--n-cpu-moe" => Ignored(CPU_ONLY),
        "--repack" => Ignored("brisk repacks the weight types it has packed kernels for"),
        "--n-gpu-layers" | "--device" | "--list-devices" => Brisk(primary),
        "--split-mode" | "--main-gpu" | "--tensor-split" | "--fit-target" | "--fit-ctx" => {
            Later(GPU)
        }
        "--hf-repo" | "--hf-token" | "--offline" => Brisk(primary),
        "--hf-file" => Unsupported,
        _ => Unsupported,
    })
}

/// The long name llama.cpp gives a spelling (for messages: `-mli` → `--multiline-input`).
pub fn llama_long_name(name: &str) -> Option<&'static str> {
    let common = super::llama_flags::COMMON.iter().find_map(|f| {
        if f.names.contains(&name) {
            f.names.iter().rev().find(|n| n.starts_with("--")).copied()
        } else if f.negs.contains(&name) {
            f.negs.iter().rev().find(|n| n.starts_with("--")).copied()
        } else {
            None
        }
    });
    common.or_else(|| {
        super::llama_flags::BENCH
            .iter()
            .find(|(names, _)| names.contains(&name))
            .and_then(|(names, _)| names.iter().rev().find(|n| n.starts_with("--")).copied())
    })
}

/// The values of a llama.cpp flag whose value is optional: `-fa` took none in older llama.cpp
/// and takes on/off/auto in newer, so the next argument is its value only when it is one.
pub fn llama_optional_values(name: &str) -> Option<&'static [&'static str]> {
    match name {
        "-fa" | "--flash-attn" => Some(&[
            "on", "off", "auto", "1", "0", "true", "false", "enabled", "disabled",
        ]),
        _ => None,
    }
}

/// Whether llama.cpp's flag takes a value (common table first, then llama-bench's).
pub fn llama_takes_value(name: &str, bench_table: bool) -> bool {
    if bench_table {
        if let Some((_, v)) = super::llama_flags::BENCH
            .iter()
            .find(|(names, _)| names.contains(&name))
        {
            return *v;
        }
    }
    super::llama_flags::COMMON
        .iter()
        .find(|f| f.names.contains(&name))
        .map(|f| f.takes_value)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_llamacpp_flags_by_every_spelling() {
        assert!(matches!(common("-cnv", "run"), Some(Later(_))));
        assert!(matches!(common("-cnv", "chat"), Some(Ignored(_))));
        assert!(matches!(common("-no-cnv", "run"), Some(Ignored(_))));
        assert_eq!(common("-ngl", "run"), Some(Brisk("--n-gpu-layers")));
        assert_eq!(common("-dev", "chat"), Some(Brisk("--device")));
        assert_eq!(common("-ts", "run"), Some(Later(GPU)));
        assert_eq!(bench("-ngl"), Some(Brisk("--n-gpu-layers")));
        assert_eq!(common("-md", "run"), Some(Brisk("--model-draft")));
        assert_eq!(common("--draft", "run"), Some(Brisk("--draft-max")));
        assert_eq!(common("-td", "chat"), Some(Brisk("--threads-draft")));
        assert_eq!(common("--spec-type", "run"), Some(Later(SPECULATIVE)));
        assert_eq!(common("-hf", "run"), Some(Brisk("--hf-repo")));
        assert_eq!(common("-hfd", "run"), Some(Brisk("--hf-repo-draft")));
        assert_eq!(common("-mu", "run"), Some(Later(DOWNLOAD)));
        assert_eq!(common("-r", "run"), Some(Brisk("--stop")));
        assert_eq!(common("--temperature", "run"), Some(Brisk("--temp")));
        assert_eq!(common("--no-escape", "run"), Some(Brisk("--no-escape")));
        assert!(matches!(common("--no-warmup", "run"), Some(Ignored(_))));
        assert_eq!(common("-mli", "run"), Some(Unsupported));
        assert_eq!(common("--not-a-flag", "run"), None);
        assert_eq!(bench("-r"), Some(Brisk("--repetitions")));
        assert_eq!(bench("-pg"), Some(Brisk("--pg")));
        assert_eq!(llama_long_name("-mli"), Some("--multiline-input"));
    }
}

#[cfg(test)]
mod table {
    use super::*;

    /// Prints brisk's handling of every llama.cpp flag (markdown), for the record:
    /// `cargo test --lib flag_table -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints the flag table"]
    fn flag_table() {
        println!("| llama.cpp flag | run | chat | bench |");
        println!("|---|---|---|---|");
        let cli = super::super::command();
        let has = |sub: &str, long: &str| {
            cli.find_subcommand(sub).is_some_and(|c| {
                long == "--help"
                    || long == "--version"
                    || c.get_arguments()
                        .any(|a| a.get_long() == long.strip_prefix("--"))
            })
        };
        let show = |h: Option<Handling>| match h {
            None => "—".to_string(),
            Some(Brisk(l)) => format!("= `{l}`"),
            Some(Ignored(_)) => "ignored (note)".into(),
            Some(Later(why)) => format!("not yet ({})", why.split(';').next().unwrap_or(why)),
            Some(Unsupported) => "refused".into(),
        };
        let show_in = |sub: &str, h: Option<Handling>| match h {
            Some(Brisk(l)) if !has(sub, l) => format!("refused (not a {sub} option)"),
            h => show(h),
        };
        for f in super::super::llama_flags::COMMON {
            let name = f.names[0];
            let mut spell = f.names.join(", ");
            if !f.negs.is_empty() {
                spell.push_str(&format!(" / {}", f.negs.join(", ")));
            }
            println!(
                "| `{spell}` | {} | {} | {} |",
                show_in("run", common(name, "run")),
                show_in("chat", common(name, "chat")),
                show_in("bench", bench(name))
            );
        }
        for (names, _) in super::super::llama_flags::BENCH {
            if common(names[0], "run").is_none() {
                println!(
                    "| `{}` (llama-bench) | — | — | {} |",
                    names.join(", "),
                    show_in("bench", bench(names[0]))
                );
            }
        }
    }
}
