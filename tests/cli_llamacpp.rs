//! The command line as llama.cpp hands and shell scripts use it: llama.cpp's flags resolved
//! whole (mapped, ignored with a note, or refused in one line, never split into letters, never
//! help), option values whatever they look like, exact stdout, honest exit codes, validated
//! sampling flags, escape processing, and `run`/`chat` flag parity.
mod common;

use common::process::{brisk, Outcome};
use std::path::PathBuf;

fn model() -> Option<String> {
    let fx = common::fixtures()?;
    Some(
        fx.join("models/stories260K.gguf")
            .to_string_lossy()
            .into_owned(),
    )
}

fn json(o: &Outcome) -> serde_json::Value {
    serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {:?} / {}",
            o.stdout, o.stderr
        )
    })
}

#[test]
fn option_values_are_taken_whatever_they_look_like() {
    let Some(m) = model() else { return };
    for args in [
        &[
            "-s",
            "-1",
            "-t",
            "-1",
            "--top-p",
            "1",
            "-p",
            "- a list item",
        ][..],
        &["-p", "-5 degrees", "--top-k", "0", "--repeat-last-n", "-1"],
        &["--prompt=-x", "--temp", "-1", "--presence-penalty", "-0.5"],
    ] {
        let mut all = vec!["run", "-m", &m, "-n", "3", "--quiet"];
        all.extend_from_slice(args);
        let o = brisk(&all, b"");
        assert_eq!(o.code, Some(0), "{args:?}: {}", o.stderr);
    }
}

#[test]
fn llamacpp_flags_are_refused_in_one_line_never_split_or_helped() {
    let Some(m) = model() else { return };
    for (args, says) in [
        (&["run", "-cnv"][..], "brisk chat"),
        (
            &["run", "-mli"],
            "-mli is llama.cpp's --multiline-input, which brisk run does not support",
        ),
        (&["run", "-sm", "row"], "GPU"),
        (&["run", "-ts", "3,1"], "GPU"),
        (&["chat", "-mg", "1"], "GPU"),
        (&["bench", "-sm", "row"], "GPU"),
        (&["run", "--spec-type", "ngram-map-k"], "--lookup"),
        (&["run", "--draft-p-split", "0.1"], "speculative"),
        (
            &["run", "-mu", "https://example.com/m.gguf"],
            "-hf user/repo",
        ),
        (&["bench", "-hff", "m.gguf"], "brisk bench does not support"),
        (&["run", "-sys", "be kind"], "brisk chat does"),
        (&["run", "-ts", "1,1"], "GPU"),
        (&["run", "-ot", "x=CPU"], "--override-tensor"),
        (&["run", "-xyz"], "unknown option '-xyz'"),
        (&["run", "--mirostat", "2"], "--mirostat"),
    ] {
        let mut all = args.to_vec();
        all.extend_from_slice(&["-m", &m, "-p", "hi"]);
        let o = brisk(&all, b"");
        assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
        assert_eq!(o.stdout, "", "{args:?}: no help on stdout");
        assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(says), "{args:?}: {}", o.stderr);
    }
}

#[test]
fn harmless_llamacpp_flags_are_accepted_with_a_note_under_verbose() {
    let Some(m) = model() else { return };
    let harmless = [
        "-fa",
        "-ngl",
        "0",
        "--no-warmup",
        "-tb",
        "2",
        "-ub",
        "512",
        "-b",
        "2048",
        "-nkvo",
        "-no-cnv",
        "--no-display-prompt",
        "-sm",
        "none",
        "--log-colors",
        "on",
    ];
    let mut args = vec!["run", "-m", &m, "-p", "hi", "-n", "2", "--quiet"];
    args.extend_from_slice(&harmless);
    let o = brisk(&args, b"");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(o.stderr, "", "--quiet: no notes");
    let mut args = vec!["run", "-m", &m, "-p", "hi", "-n", "2", "-v"];
    args.extend_from_slice(&harmless);
    let o = brisk(&args, b"");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let notes = o.stderr.lines().filter(|l| l.contains("ignoring")).count();
    assert_eq!(notes, 10, "{}", o.stderr);
    // llama.cpp's names for brisk's own options.
    let o = brisk(
        &[
            "run",
            "-m",
            &m,
            "-p",
            "hi",
            "-n",
            "2",
            "--temperature",
            "0",
            "--predict",
            "2",
            "-sp",
            "--log-disable",
            "-e",
        ],
        b"",
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(o.stderr, "", "--log-disable is --quiet");
    let v = json(&brisk(
        &[
            "run", "-m", &m, "-p", "hi", "-n", "8", "-n", "3", "--quiet", "--json", "--stop",
            "zzz", "-r", "yyy",
        ],
        b"",
    ));
    assert_eq!(v["generated_tokens"], 3, "the last -n wins: {v}");
    let o = brisk(
        &[
            "bench", "-m", &m, "-p", "0", "-n", "1", "-r", "1", "-fa", "1", "-ngl", "0",
        ],
        b"",
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
}

#[test]
fn stdout_is_exactly_the_generated_text_the_json_text_too() {
    let Some(m) = model() else { return };
    let o = brisk(&["run", "-m", &m, "-p", "hi", "-n", "0", "--quiet"], b"");
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (Some(0), ""),
        "-n 0 prints nothing"
    );
    let args = [
        "run",
        "-m",
        &m,
        "-p",
        "Once upon a time",
        "-n",
        "40",
        "-s",
        "7",
        "--quiet",
    ];
    let plain = brisk(&args, b"");
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let j = json(&brisk(&with_json, b""));
    assert!(!plain.stdout.is_empty());
    assert_eq!(plain.stdout, j["text"].as_str().unwrap());
}

#[test]
fn bad_sampling_and_context_values_name_the_flag_and_exit_two() {
    let Some(m) = model() else { return };
    for (args, flag) in [
        (&["--temp", "nan"][..], "--temp"),
        (&["--presence-penalty", "nan"], "--presence-penalty"),
        (&["--frequency-penalty", "inf"], "--frequency-penalty"),
        (&["--top-p", "2"], "--top-p"),
        (&["--min-p", "5"], "--min-p"),
        (&["--repeat-penalty", "0"], "--repeat-penalty"),
        (&["--stop", ""], "--stop"),
        (&["-s", "-2"], "--seed"),
        (&["-t", "-5"], "--threads"),
        (&["-n", "-3"], "--n-predict"),
        (&["-c", "-1"], "--ctx-size"),
    ] {
        let mut all = vec!["run", "-m", &m, "-p", "hi"];
        all.extend_from_slice(args);
        let o = brisk(&all, b"");
        assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(flag), "{args:?}: {}", o.stderr);
    }
}

#[test]
fn escapes_are_processed_unless_no_escape() {
    let Some(m) = model() else { return };
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run", "-m", &m, "-n", "1", "--quiet", "--json", "--temp", "0",
        ];
        args.extend_from_slice(extra);
        json(&brisk(&args, b""))
    };
    let escaped = run(&["-p", r"one\ntwo \x41\x42\x43\t\\"]);
    let literal = run(&["-p", "one\ntwo ABC\t\\"]);
    let kept = run(&["-p", r"one\ntwo \x41\x42\x43\t\\", "--no-escape"]);
    assert_eq!(escaped["prompt_tokens"], literal["prompt_tokens"]);
    assert_eq!(escaped["text"], literal["text"]);
    assert!(
        kept["prompt_tokens"].as_u64() > escaped["prompt_tokens"].as_u64(),
        "{kept} / {escaped}"
    );
    // A stop string given as \n matches a real newline: the text never holds one.
    let v = run(&[
        "-p",
        "Once upon a time",
        "-n",
        "200",
        "--stop",
        r"\n",
        "--ignore-eos",
    ]);
    assert!(!v["text"].as_str().unwrap().contains('\n'), "{v}");
}

#[test]
fn threads_beyond_the_machine_are_capped_with_a_notice_and_bench_refuses() {
    let Some(m) = model() else { return };
    let o = brisk(
        &["run", "-m", &m, "-p", "hi", "-n", "2", "-t", "100000"],
        b"",
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr.contains("capped at this machine's"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("panicked"));
    let o = brisk(
        &["bench", "-m", &m, "-p", "0", "-n", "1", "-t", "100000"],
        b"",
    );
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
}

#[test]
fn context_requests_are_capped_with_a_notice() {
    let Some(m) = model() else { return };
    let o = brisk(&["run", "-m", &m, "-p", "hi", "-n", "1"], b"");
    assert!(
        !o.stderr.contains("capped"),
        "no notice for the default: {}",
        o.stderr
    );
    let o = brisk(
        &["run", "-m", &m, "-p", "hi", "-n", "1", "-c", "100000"],
        b"",
    );
    assert!(
        o.stderr.contains("-c 100000 capped at the model's 2048"),
        "{}",
        o.stderr
    );
    let long = "once upon a time ".repeat(200);
    let o = brisk(&["run", "-m", &m, "-p", &long, "-c", "64"], b"");
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.contains("raise -c, up to the model's 2048"),
        "{}",
        o.stderr
    );
    let o = brisk(&["run", "-m", &m, "-p", &long.repeat(4), "-c", "0"], b"");
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.contains("cannot hold more"), "{}", o.stderr);
    assert!(!o.stderr.contains("raise -c"), "{}", o.stderr);
}

#[test]
fn json_failures_are_a_json_object_on_stdout_too() {
    let o = brisk(
        &["run", "-m", "/nonexistent.gguf", "-p", "hi", "--json"],
        b"",
    );
    assert_eq!(o.code, Some(1));
    let v = json(&o);
    assert!(v["error"].as_str().unwrap().contains("nonexistent"), "{v}");
    let o = brisk(
        &["chat", "-m", "/nonexistent.gguf", "-p", "hi", "--json"],
        b"",
    );
    assert_eq!(o.code, Some(1));
    assert!(json(&o)["error"].is_string());
}

#[test]
fn chat_exits_one_when_a_turn_failed() {
    let Some(m) = model() else { return };
    let raising = r#"{{ raise_exception("this template refuses") }}"#;
    let o = brisk(
        &[
            "chat",
            "-m",
            &m,
            "-p",
            "hi",
            "-st",
            "--chat-template",
            raising,
            "-n",
            "4",
        ],
        b"",
    );
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains("this template refuses"), "{}", o.stderr);
    // Pipe mode: every turn fails, the input ends, then status 1.
    let o = brisk(
        &["chat", "-m", &m, "--chat-template", raising, "-n", "4"],
        b"hello\nagain\n",
    );
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains("2 of 2 turns failed"), "{}", o.stderr);
    // A system prompt too long for the context is named as the cause.
    let long = "word ".repeat(3000);
    let o = brisk(&["chat", "-m", &m, "-sys", &long, "-p", "hi", "-st"], b"");
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("the system prompt alone is"),
        "{}",
        o.stderr
    );
    // Turns that succeed: status 0.
    let o = brisk(&["chat", "-m", &m, "-n", "4"], b"hello\n");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
}

#[test]
fn chat_takes_runs_generation_flags() {
    let Some(m) = model() else { return };
    let dir = std::env::temp_dir().join(format!("brisk-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let first = dir.join("first.txt");
    std::fs::write(&first, "Tell me a story").unwrap();
    let sys = dir.join("sys.txt");
    std::fs::write(&sys, "You are terse.").unwrap();
    let first_s = first.to_string_lossy().into_owned();
    let sys_s: String = sys.to_string_lossy().into_owned();
    let o = brisk(
        &[
            "chat",
            "-m",
            &m,
            "-f",
            &first_s,
            "-sysf",
            &sys_s,
            "-st",
            "--json",
            "--ignore-eos",
            "--special",
            "-ctk",
            "f16",
            "-ctv",
            "f16",
            "-n",
            "6",
            "--color",
            "--in-prefix",
            r"\n",
            "--temp",
            "0",
            "--quiet",
        ],
        b"",
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let v = json(&o);
    assert_eq!(v["generated_tokens"], 6, "--ignore-eos and -n: {v}");
    assert_eq!(v["finish_reason"], "length");
    assert!(
        !v["text"].as_str().unwrap().contains("\x1b["),
        "no colour in JSON"
    );
    // --color alone is a switch; with a value it is still accepted.
    for color in [&["--color"][..], &["--color", "off"], &["-co", "auto"]] {
        let mut args = vec!["chat", "-m", &m, "-p", "hi", "-st", "-n", "2", "--quiet"];
        args.extend_from_slice(color);
        let o = brisk(&args, b"");
        assert_eq!(o.code, Some(0), "{color:?}: {}", o.stderr);
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bench_keeps_finished_results_when_a_later_model_fails() {
    let Some(m) = model() else { return };
    let missing = PathBuf::from("/nonexistent-model.gguf");
    let missing = missing.to_string_lossy();
    for fmt in ["json", "jsonl", "csv", "md"] {
        let o = brisk(
            &[
                "bench", "-m", &m, "-m", &missing, "-p", "0", "-n", "2", "-r", "1", "-o", fmt,
            ],
            b"",
        );
        assert_eq!(o.code, Some(0), "{fmt}: {}", o.stderr);
        assert!(
            o.stdout.contains("tg2"),
            "{fmt}: the first model's result stays: {}",
            o.stdout
        );
        assert!(
            o.stderr.contains("nonexistent-model"),
            "{fmt}: {}",
            o.stderr
        );
    }
    let o = brisk(
        &[
            "bench", "-m", &m, "-p", "0", "-n", "1", "-d", "100000", "-r", "1",
        ],
        b"",
    );
    assert_eq!(o.code, Some(1), "nothing ran: {}", o.stderr);
    assert!(o.stderr.contains("cannot run"), "{}", o.stderr);
    assert!(o.stderr.contains("nothing was measured"), "{}", o.stderr);
}
