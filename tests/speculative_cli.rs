//! `brisk speculate`, and `-md`/`--lookup` on `run` and `chat`, from the command line: the
//! text is the plain run's, the statistics are on stderr and in `--json`, llama.cpp's flag
//! spellings work, and bad combinations are one clear line. With the Qwen2.5-Coder pair
//! present (`scripts/fetch-qwen-coder.sh`), greedy output on code prompts is checked too.
mod common;

use common::process::brisk_limited;
use std::time::Duration;

fn brisk(args: &[&str], stdin: &[u8]) -> common::process::Outcome {
    brisk_limited(args, stdin, Duration::from_secs(600))
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn speculate_prints_the_plain_text_and_its_statistics() {
    let Some(fx) = common::fixtures() else { return };
    let m = fx.join("models/stories260K.gguf");
    let d = fx.join("models/llama2xs.gguf");
    let (m, d) = (m.to_str().unwrap(), d.to_str().unwrap());
    let base = ["-m", m, "-p", "Once upon a time", "-n", "40", "--temp", "0"];
    let plain = brisk(&[&["run"], &base[..]].concat(), b"");
    assert_eq!(plain.code, Some(0), "{}", plain.stderr);
    // llama.cpp's spellings: -md, --draft, -td.
    let spec = brisk(
        &[
            &["speculate"],
            &base[..],
            &["-md", d, "--draft", "5", "-td", "1", "--draft-fixed"],
        ]
        .concat(),
        b"",
    );
    assert_eq!(spec.code, Some(0), "{}", spec.stderr);
    assert_eq!(spec.stdout, plain.stdout);
    assert!(
        spec.stderr
            .contains("brisk: speculative (draft model): drafted"),
        "{}",
        spec.stderr
    );
    // --json: run's fields plus the speculative object, with --compare's speedup.
    let j = brisk(
        &[
            &["run"],
            &base[..],
            &["-md", d, "--draft-fixed", "--json", "--compare"],
        ]
        .concat(),
        b"",
    );
    assert_eq!(j.code, Some(0), "{}", j.stderr);
    let v = json(&j.stdout);
    assert_eq!(v["text"].as_str(), Some(plain.stdout.as_str()));
    let s = &v["speculative"];
    assert_eq!(s["drafter"], "draft model");
    assert!(s["drafted"].as_u64().unwrap() > 0, "{s}");
    assert!(s["accepted"].as_u64().unwrap() <= s["drafted"].as_u64().unwrap());
    assert_eq!(s["same_text"], true);
    assert!(s["speedup"].as_f64().unwrap() > 0.0);
    assert!(v["timings"]["gen_tps"].as_f64().is_some());
    // Lookup needs no draft model.
    let l = brisk(&[&["speculate"], &base[..], &["--lookup"]].concat(), b"");
    assert_eq!(l.code, Some(0), "{}", l.stderr);
    assert_eq!(l.stdout, plain.stdout);
    assert!(l.stderr.contains("speculative (lookup)"), "{}", l.stderr);
}

#[test]
fn chat_with_a_draft_model_replies_as_without() {
    let Some(fx) = common::fixtures() else { return };
    let m = fx.join("models/stories260K.gguf");
    let d = fx.join("models/llama2xs.gguf");
    let (m, d) = (m.to_str().unwrap(), d.to_str().unwrap());
    let base = [
        "chat",
        "-m",
        m,
        "--temp",
        "0",
        "-n",
        "24",
        "--chat-template",
        "chatml",
        "--json",
    ];
    let input = b"Once upon a time\nThe little dog\nLily went to the park\n";
    let plain = brisk(&base, input);
    assert_eq!(plain.code, Some(0), "{}", plain.stderr);
    let extra = [
        "-md",
        d,
        "--draft-fixed",
        "--draft-max",
        "4",
        "--draft-p-min",
        "0",
    ];
    let spec = brisk(&[&base[..], &extra[..]].concat(), input);
    assert_eq!(spec.code, Some(0), "{}", spec.stderr);
    let (a, b): (Vec<_>, Vec<_>) = (
        plain.stdout.lines().map(json).collect(),
        spec.stdout.lines().map(json).collect(),
    );
    assert_eq!(a.len(), 3);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["text"], y["text"]);
        assert!(y["speculative"]["drafted"].as_u64().unwrap() > 0, "{y}");
    }
}

#[test]
fn bad_combinations_are_one_line() {
    let Some(fx) = common::fixtures() else { return };
    let m = fx.join("models/stories260K.gguf");
    let m = m.to_str().unwrap();
    let other = fx.join("models/rand-qwen2-gpt2-64-f16.gguf");
    let cases: [(&[&str], i32, &str); 5] = [
        (&["speculate", "-m", m, "-p", "x"], 2, "needs a draft model"),
        (
            &["run", "-m", m, "-p", "x", "--compare"],
            2,
            "--compare measures speculative",
        ),
        (
            &["run", "-m", m, "-p", "x", "-md", other.to_str().unwrap()],
            1,
            "cannot draft for",
        ),
        (
            &["run", "-m", m, "-p", "x", "-md", "/nonexistent.gguf"],
            1,
            "draft model",
        ),
        (
            &["run", "-m", m, "-p", "x", "--lookup", "--draft-max", "0"],
            2,
            "draft-max",
        ),
    ];
    for (args, code, needle) in cases {
        let o = brisk(args, b"");
        assert_eq!(o.code, Some(code), "{args:?}: {}", o.stderr);
        let lines: Vec<&str> = o
            .stderr
            .lines()
            .filter(|l| !l.starts_with("brisk: "))
            .collect();
        assert!(o.stderr.contains(needle), "{args:?}: {}", o.stderr);
        assert!(!o.stderr.contains("panicked"), "{args:?}: {}", o.stderr);
        assert!(lines.len() <= 3, "{args:?}: {}", o.stderr);
    }
    // llama.cpp speculative settings brisk has not got are refused by name.
    let o = brisk(
        &["run", "-m", m, "-p", "x", "--spec-type", "ngram-map-k"],
        b"",
    );
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("--lookup"), "{}", o.stderr);
}

#[test]
fn qwen_coder_pair_greedy_output_is_the_targets() {
    let dir = common::models_cache();
    let target = dir.join("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf");
    let draft = dir.join("qwen2.5-coder-0.5b-instruct.gguf");
    if !target.exists() || !draft.exists() {
        eprintln!(
            "SKIP: the Qwen2.5-Coder pair is not in {} (scripts/fetch-qwen-coder.sh)",
            dir.display()
        );
        return;
    }
    let (t, d) = (target.to_str().unwrap(), draft.to_str().unwrap());
    let prompts = [
        "def fibonacci(n):",
        "Write a C function that reverses a string in place.",
        "// Rust: sum the even numbers of a slice\nfn sum_even(xs: &[i64]) -> i64 {",
    ];
    for p in prompts {
        let base = ["-m", t, "-p", p, "-n", "48", "--temp", "0", "-t", "2"];
        let plain = brisk(&[&["run"], &base[..]].concat(), b"");
        assert_eq!(plain.code, Some(0), "{}", plain.stderr);
        for extra in [
            &[
                "-md",
                d,
                "--draft-fixed",
                "--draft-max",
                "6",
                "--draft-p-min",
                "0",
            ][..],
            &["-md", d][..],
            &["--lookup", "--draft-fixed"][..],
        ] {
            let spec = brisk(&[&["run"], &base[..], extra].concat(), b"");
            assert_eq!(spec.code, Some(0), "{}", spec.stderr);
            assert_eq!(spec.stdout, plain.stdout, "{p:?} with {extra:?}");
        }
    }
}
