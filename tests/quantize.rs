//! `brisk quantize` against llama-quantize: for the fixture models, every type, without and
//! with an importance matrix from llama-imatrix, brisk's file must hash to llama.cpp's
//! (tests/data/quantize-golden.txt, recorded by scripts/quantize-golden.sh). Plus the bad-input
//! cases: each one clear line, the right exit code, and no output file left behind.
mod common;

use common::process::brisk;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("brisk-quant-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn only_file_is(dir: &Path, name: Option<&str>) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let want: Vec<String> = name.into_iter().map(str::to_string).collect();
    assert_eq!(names, want, "files left in {}", dir.display());
}

#[test]
fn output_equals_llama_quantize_byte_for_byte() {
    let Some(fx) = common::fixtures() else { return };
    let golden = include_str!("data/quantize-golden.txt");
    let dir = temp_dir("golden");
    let mut checked = 0;
    for line in golden.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (model, ty, mode, want) = (f[0], f[1], f[2], f[3]);
        let input = fx.join(format!("models/{model}.gguf"));
        let out = dir.join("out.gguf");
        let _ = std::fs::remove_file(&out);
        // The same relative path llama-quantize was given: it is recorded in the file.
        let imatrix = format!("tests/data/imatrix/{model}.imatrix.gguf");
        let mut args = vec!["quantize", "--quiet"];
        if mode == "imatrix" {
            args.extend(["--imatrix", &imatrix]);
        }
        let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
        args.extend([i, o, ty, "2"]);
        let r = brisk(&args, b"");
        if want == "refused" {
            assert_eq!(
                r.code,
                Some(1),
                "{line}: brisk must refuse as llama.cpp does"
            );
            assert!(
                r.stderr.contains("importance matrix"),
                "{line}: {}",
                r.stderr
            );
            only_file_is(&dir, None);
        } else {
            assert_eq!(r.code, Some(0), "{line}: {}", r.stderr);
            assert_eq!(
                sha256(&out),
                want,
                "{line}: brisk's bytes differ from llama.cpp's"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 126);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn quantized_files_load_and_generate() {
    let Some(fx) = common::fixtures() else { return };
    let dir = temp_dir("load");
    let out = dir.join("q.gguf");
    let input = fx.join("models/prose-5m.gguf");
    let r = brisk(
        &[
            "quantize",
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            "q4_k_m",
        ],
        b"",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains("as Q4_K_M") && r.stderr.contains("bpw"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.is_empty(),
        "quantize prints nothing to stdout: {}",
        r.stdout
    );
    // The golden file's Q4_K_M is what llama.cpp itself ships as prose-5m-q4_k_m.gguf.
    assert_eq!(
        sha256(&out),
        sha256(&fx.join("models/prose-5m-q4_k_m.gguf"))
    );
    let r = brisk(
        &[
            "run",
            "-m",
            out.to_str().unwrap(),
            "-p",
            "The",
            "-n",
            "8",
            "--temp",
            "0",
        ],
        b"",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.stdout.trim().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let Some(fx) = common::fixtures() else { return };
    let dir = temp_dir("dry");
    let input = fx.join("models/rand-llama-256-f16.gguf");
    let out = dir.join("never.gguf");
    let r = brisk(
        &[
            "quantize",
            "--dry-run",
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            "Q4_K_M",
        ],
        b"",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("output.weight") && r.stdout.contains("Q6_K"));
    assert!(r.stdout.contains("quantized size"));
    only_file_is(&dir, None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_gives_one_line_and_leaves_no_file() {
    let Some(fx) = common::fixtures() else { return };
    let dir = temp_dir("bad");
    let f16 = fx.join("models/rand-llama-256-f16.gguf");
    let q8 = fx.join("models/rand-llama-256-q8_0.gguf");
    let out = dir.join("out.gguf");
    let (f16, q8, o) = (
        f16.to_str().unwrap(),
        q8.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let truncated = dir.join("trunc.imatrix");
    let imatrix = std::fs::read("tests/data/imatrix/rand-llama-256-f16.imatrix.gguf").unwrap();
    std::fs::write(&truncated, &imatrix[..imatrix.len() / 2]).unwrap();
    let foreign = "tests/data/imatrix/prose-5m.imatrix.gguf";
    let t = truncated.to_str().unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec![f16, o, "Q9_K"], 2, "invalid type"),
        (
            vec!["--tensor-type", "attn_v", f16, o, "Q4_0"],
            2,
            "malformed tensor type",
        ),
        (
            vec!["--tensor-type", "nosuch=q8_0", f16, o, "Q4_0"],
            1,
            "matches no tensor",
        ),
        (vec!["--imatrix", t, f16, o, "Q4_K_M"], 1, "imatrix"),
        (
            vec!["--imatrix", foreign, f16, o, "Q4_K_M"],
            1,
            "another model",
        ),
        (vec![q8, o, "Q4_0"], 1, "--allow-requantize"),
        (
            vec!["--token-embedding-type", "iq2_xxs", f16, o, "Q4_0"],
            1,
            "needs importance data",
        ),
        (vec![f16, f16, "Q4_0"], 2, "same file"),
        (vec!["/nonexistent.gguf", o, "Q4_0"], 1, "cannot open"),
    ];
    for (args, code, needle) in cases {
        let mut a = vec!["quantize"];
        a.extend(&args);
        let r = brisk(&a, b"");
        assert_eq!(r.code, Some(code), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        // clap's usage errors add a "For more information, try '--help'." hint.
        let lines = r
            .stderr
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("For more"));
        assert_eq!(lines.count(), 1, "{args:?}: {}", r.stderr);
        common::assert_plain_message(&r.stderr);
        assert!(!out.exists(), "{args:?} left {o}");
    }
    std::fs::remove_file(&truncated).unwrap();
    only_file_is(&dir, None);
    let _ = std::fs::remove_dir_all(&dir);
}
