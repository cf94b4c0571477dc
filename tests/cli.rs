//! The `brisk` binary as users and scripts drive it: stdin prompts, stdout carrying only the
//! generated text, exit codes, `--json`, a closed pipe, and bad input giving one error line.
mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn brisk() -> Command {
    Command::new(env!("CARGO_BIN_EXE_brisk"))
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Outcome {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn brisk");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn golden_case(fx: &std::path::Path, name: &str, case: usize) -> serde_json::Value {
    let text = std::fs::read_to_string(fx.join("golden").join(format!("{name}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["cases"][case].clone()
}

#[test]
fn stdin_prompt_prints_llamacpp_greedy_text() {
    let Some(fx) = common::fixtures() else { return };
    let case = golden_case(&fx, "stories260K", 0);
    let mut cmd = brisk();
    cmd.args(["run", "-m"])
        .arg(fx.join("models/stories260K.gguf"))
        .args(["-n", "48", "--temp", "0"]);
    let o = run_with_stdin(cmd, b"Once upon a time\n");
    assert_eq!(o.code, Some(0), "stderr: {}", o.stderr);
    let want = case["greedy_text"].as_str().unwrap();
    assert_eq!(
        o.stdout, want,
        "stdout must carry exactly the generated text, nothing added"
    );
    assert!(
        o.stderr.contains("t/s"),
        "timings go to stderr: {}",
        o.stderr
    );
}

#[test]
fn json_output_reports_tokens_reason_and_timings() {
    let Some(fx) = common::fixtures() else { return };
    let case = golden_case(&fx, "stories260K", 0);
    let mut cmd = brisk();
    cmd.args([
        "run",
        "--json",
        "--quiet",
        "-n",
        "48",
        "--temp",
        "0",
        "-p",
        "Once upon a time",
        "-m",
    ])
    .arg(fx.join("models/stories260K.gguf"));
    let o = run_with_stdin(cmd, b"");
    assert_eq!(o.code, Some(0), "stderr: {}", o.stderr);
    assert_eq!(o.stderr, "", "--quiet silences stderr");
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("one JSON object");
    assert_eq!(v["text"], case["greedy_text"]);
    assert_eq!(v["prompt_tokens"], 5);
    assert_eq!(v["generated_tokens"], 48);
    assert_eq!(v["finish_reason"], "length");
    for k in ["load_ms", "prompt_ms", "prompt_tps", "gen_ms", "gen_tps"] {
        assert!(v["timings"][k].is_number(), "timings.{k}");
    }
}

#[test]
fn stop_string_ends_generation_without_printing_it() {
    let Some(fx) = common::fixtures() else { return };
    let mut cmd = brisk();
    cmd.args([
        "run",
        "--json",
        "--quiet",
        "--temp",
        "0",
        "-p",
        "Once upon a time",
        "--stop",
        "Lily",
        "-m",
    ])
    .arg(fx.join("models/stories260K.gguf"));
    let o = run_with_stdin(cmd, b"");
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(v["finish_reason"], "stop");
    assert_eq!(v["text"], ", there was a little girl named ");
}

#[test]
fn generation_ends_at_eos_or_full_context() {
    let Some(fx) = common::fixtures() else { return };
    let mut cmd = brisk();
    cmd.args([
        "run",
        "--json",
        "--quiet",
        "--temp",
        "0",
        "-c",
        "24",
        "-p",
        "Once upon a time",
        "-m",
    ])
    .arg(fx.join("models/stories260K.gguf"));
    let o = run_with_stdin(cmd, b"");
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(v["finish_reason"], "context");
    assert_eq!(
        v["prompt_tokens"].as_u64().unwrap() + v["generated_tokens"].as_u64().unwrap(),
        25
    );
}

/// Start a long sampled generation on stories260K and return once it has printed `n` bytes.
fn spawn_generating(fx: &std::path::Path, seed: &str, n: usize) -> std::process::Child {
    let mut child = brisk()
        .args([
            "run",
            "--ignore-eos",
            "-n",
            "4000",
            "-c",
            "0",
            "--temp",
            "1",
            "-s",
            seed,
        ])
        .args(["-p", "Once", "-m"])
        .arg(fx.join("models/stories260K.gguf"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = vec![0u8; n];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    child
}

#[test]
fn closed_stdout_ends_quietly_with_status_zero() {
    let Some(fx) = common::fixtures() else { return };
    let mut child = spawn_generating(&fx, "3", 16);
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn missing_model_is_one_error_line_and_status_one() {
    let o = run_with_stdin(
        {
            let mut c = brisk();
            c.args(["run", "-m", "/nonexistent/model.gguf", "-p", "hi"]);
            c
        },
        b"",
    );
    assert_eq!(o.code, Some(1));
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("/nonexistent/model.gguf"));
}

#[test]
fn malformed_model_is_rejected_without_panic() {
    let dir = std::env::temp_dir().join(format!("brisk-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.gguf");
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_le_bytes());
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&bad, bytes).unwrap();
    let o = run_with_stdin(
        {
            let mut c = brisk();
            c.args(["run", "-p", "hi", "-m"]).arg(&bad);
            c
        },
        b"",
    );
    assert_eq!(o.code, Some(1));
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(!o.stderr.contains("panicked"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn usage_errors_exit_two() {
    for args in [
        &["run", "--bogus"][..],
        &["run", "-m", "x", "-n", "abc"],
        &["run", "-m", "x", "-p", "hi", "-ctk", "q4_0"],
        &["run", "-m", "x", "-p", "hi", "--cache-type-v=bf16"],
        &["bench", "-m", "x", "-ctv", "q9"],
        &["frobnicate"],
    ] {
        let o = run_with_stdin(
            {
                let mut c = brisk();
                c.args(args);
                c
            },
            b"",
        );
        assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
    }
}

#[test]
fn invalid_utf8_prompt_is_an_error() {
    let Some(fx) = common::fixtures() else { return };
    let mut cmd = brisk();
    cmd.args(["run", "-m"])
        .arg(fx.join("models/stories260K.gguf"));
    let o = run_with_stdin(cmd, b"\xff\xfe bad");
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.contains("UTF-8"), "{}", o.stderr);
}

#[test]
fn tokenize_prints_ids_and_pieces() {
    let Some(fx) = common::fixtures() else { return };
    let case = golden_case(&fx, "stories260K", 0);
    let model = fx.join("models/stories260K.gguf");
    let mut cmd = brisk();
    cmd.args(["tokenize", "--ids", "-p", "Once upon a time", "-m"])
        .arg(&model);
    let o = run_with_stdin(cmd, b"");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let ids: Vec<u64> = case["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let want = format!(
        "[{}]\n",
        ids.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(o.stdout, want);

    let mut cmd = brisk();
    cmd.args(["tokenize", "--ids", "--stdin", "-m"]).arg(&model);
    assert_eq!(
        run_with_stdin(cmd, b"").stdout,
        "[1]\n",
        "empty text is BOS alone"
    );
    let mut cmd = brisk();
    cmd.args(["tokenize", "--ids", "--no-bos", "-p", "", "-m"])
        .arg(&model);
    assert_eq!(run_with_stdin(cmd, b"").stdout, "[]\n");

    let mut cmd = brisk();
    cmd.args(["tokenize", "-p", "Once upon", "-m"]).arg(&model);
    let o = run_with_stdin(cmd, b"");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", o.stdout);
    assert!(lines[0].trim_start().starts_with("1 -> '"), "{}", lines[0]);
}

#[test]
fn ctrl_c_stops_generation_with_status_130() {
    let Some(fx) = common::fixtures() else { return };
    // Once it is generating, interrupt it as a terminal's Ctrl-C would.
    let child = spawn_generating(&fx, "5", 8);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unavailable_kernel_override_is_an_error_not_a_fallback() {
    let Some(fx) = common::fixtures() else { return };
    let mut cmd = brisk();
    cmd.env("BRISK_CPU", "no-such-isa")
        .args(["run", "-p", "hi", "-n", "1", "-m"])
        .arg(fx.join("models/stories260K.gguf"));
    let o = run_with_stdin(cmd, b"");
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.contains("BRISK_CPU=no-such-isa"), "{}", o.stderr);
    assert_eq!(o.stdout, "");
}

#[test]
fn bench_reports_llama_bench_fields_as_json() {
    let Some(fx) = common::fixtures() else { return };
    let mut cmd = brisk();
    cmd.args([
        "bench", "-p", "8", "-n", "4", "-pg", "4,2", "-d", "0,4", "-r", "2", "-t", "1", "-o",
        "json", "-m",
    ])
    .arg(fx.join("models/stories260K.gguf"));
    let o = run_with_stdin(cmd, b"");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("one JSON array");
    let rows = v.as_array().unwrap();
    let tests: Vec<&str> = rows.iter().map(|r| r["test"].as_str().unwrap()).collect();
    assert_eq!(
        tests,
        [
            "pp8",
            "tg4",
            "pp4+tg2",
            "pp8 @ d4",
            "tg4 @ d4",
            "pp4+tg2 @ d4"
        ]
    );
    for r in rows {
        for k in [
            "model_filename",
            "model_size",
            "model_n_params",
            "n_threads",
            "n_prompt",
            "n_gen",
            "n_depth",
            "avg_ts",
            "stddev_ts",
            "avg_ns",
            "stddev_ns",
        ] {
            assert!(!r[k].is_null(), "field {k} in {r}");
        }
        assert_eq!(r["samples_ts"].as_array().unwrap().len(), 2);
        assert_eq!(
            r["bw_gbs"].is_number(),
            r["n_prompt"] == 0,
            "bw_gbs only for generation"
        );
    }
    let mut cmd = brisk();
    cmd.args(["bench", "-p", "x", "-m"])
        .arg(fx.join("models/stories260K.gguf"));
    assert_eq!(
        run_with_stdin(cmd, b"").code,
        Some(2),
        "a bad list is a usage error"
    );
}

#[test]
fn q8_0_kv_cache_runs_and_reports_types_and_roofline() {
    let Some(fx) = common::fixtures() else { return };
    let model = fx.join("models/prose-5m.gguf");
    let mut cmd = brisk();
    cmd.args([
        "run",
        "-p",
        "The prince",
        "-n",
        "4",
        "--temp",
        "0",
        "-ctk",
        "q8_0",
        "-ctv",
        "q8_0",
        "-m",
    ])
    .arg(&model);
    let o = run_with_stdin(cmd, b"");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stderr.contains("K q8_0, V q8_0"), "{}", o.stderr);

    let mut cmd = brisk();
    cmd.args([
        "bench",
        "-p",
        "4",
        "-n",
        "2",
        "-r",
        "1",
        "-t",
        "1",
        "-ctk",
        "f16,q8_0",
        "-ctv",
        "q8_0",
        "--roofline",
        "-o",
        "jsonl",
        "-m",
    ])
    .arg(&model);
    let o = run_with_stdin(cmd, b"");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stderr.contains("roofline"), "{}", o.stderr);
    let rows: Vec<serde_json::Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let kinds: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (s("test"), s("type_k"), s("type_v"))
        })
        .collect();
    let want = [
        ("pp4", "f16", "q8_0"),
        ("tg2", "f16", "q8_0"),
        ("pp4", "q8_0", "q8_0"),
        ("tg2", "q8_0", "q8_0"),
    ];
    assert_eq!(
        kinds,
        want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    for r in &rows {
        let gen = r["n_prompt"] == 0;
        assert_eq!(r["roofline_gbs"].is_number(), gen, "{r}");
        assert_eq!(r["roofline_pct"].is_number(), gen, "{r}");
        if gen {
            let pct = r["bw_gbs"].as_f64().unwrap() / r["roofline_gbs"].as_f64().unwrap() * 100.0;
            assert!((r["roofline_pct"].as_f64().unwrap() - pct).abs() < 1e-6 * pct.max(1.0));
        }
    }

    // One generation test with the roofline, in the given output format.
    let roofline_bench = |format: &str| {
        let mut cmd = brisk();
        cmd.args([
            "bench",
            "-p",
            "0",
            "-n",
            "1",
            "-r",
            "1",
            "-t",
            "1",
            "--roofline",
            "-o",
        ])
        .arg(format)
        .arg("-m")
        .arg(&model);
        let o = run_with_stdin(cmd, b"");
        assert_eq!(o.code, Some(0), "{}", o.stderr);
        o
    };
    let o = roofline_bench("md");
    assert!(
        o.stdout.contains("| roofline GB/s | % roofline |"),
        "{}",
        o.stdout
    );
    let o = roofline_bench("csv");
    let mut lines = o.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert!(
        header.contains(&"roofline_pct") && header.contains(&"type_k"),
        "{header:?}"
    );
}

#[test]
fn q8_0_kv_cache_on_a_model_it_cannot_hold_is_one_error_line() {
    let Some(fx) = common::fixtures() else { return };
    let mut cmd = brisk();
    cmd.args(["run", "-p", "hi", "-n", "1", "-ctk", "q8_0", "-m"])
        .arg(fx.join("models/stories260K.gguf"));
    let o = run_with_stdin(cmd, b"");
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains("divisible by 32"), "{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
}

#[test]
fn ctrl_c_under_json_reports_interrupted() {
    let Some(fx) = common::fixtures() else { return };
    let mut cmd = brisk();
    cmd.args([
        "run",
        "--json",
        "--ignore-eos",
        "-n",
        "4000",
        "-c",
        "0",
        "--temp",
        "1",
    ])
    .args(["-p", "Once", "-m"])
    .arg(fx.join("models/stories260K.gguf"));
    // The seed line comes just before generation starts (about half a second of work).
    let (child, _err) = common::process::interrupt_after_seed(&mut cmd, Duration::ZERO);
    let out = child.wait_with_output().unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("one JSON object after Ctrl-C");
    assert_eq!(v["finish_reason"], "interrupted", "{v}");
    assert_eq!(out.status.code(), Some(130));
}
