//! `brisk quantize --method gptq|awq|awq+gptq` on the trained prose-5m model: calibrated on
//! war-and-peace text, scored on text it never saw, each method must lose less than
//! round-to-nearest with an importance matrix from the same text (mean KL-divergence against
//! the F32 model), and the file must be an ordinary GGUF of the planned types. Plus the bad
//! inputs: each one clear line and no output file.
mod common;

use common::process::{assert_fails_with, brisk};
use std::path::{Path, PathBuf};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("brisk-calib-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Calibration text (the start of war-and-peace.txt) and scoring text (its held-out end).
fn texts(fx: &Path, dir: &Path) -> (String, String) {
    let t = std::fs::read_to_string(fx.join("text/war-and-peace.txt")).unwrap();
    let cut = t[..t.len() * 95 / 100].rfind('\n').unwrap() + 1;
    let (train, held) = (dir.join("train.txt"), dir.join("held.txt"));
    std::fs::write(&train, &t[..200_000]).unwrap();
    std::fs::write(&held, &t[cut..]).unwrap();
    (
        train.to_str().unwrap().to_string(),
        held.to_str().unwrap().to_string(),
    )
}

fn mean_kld(model: &str, base: &str) -> f64 {
    let r = brisk(
        &[
            "perplexity",
            "--quiet",
            "--json",
            "-m",
            model,
            "--kl-divergence-base",
            base,
            "--kl-divergence",
        ],
        b"",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v["kld"]["mean_kld"].as_f64().unwrap()
}

#[test]
fn calibrated_methods_lose_less_than_imatrix_rounding() {
    let Some(fx) = common::fixtures() else { return };
    let dir = temp_dir("kld");
    let (train, held) = texts(&fx, &dir);
    let model = fx.join("models/prose-5m.gguf");
    let model = model.to_str().unwrap();
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let base = p("base.kld");
    let r = brisk(
        &[
            "perplexity",
            "--quiet",
            "-m",
            model,
            "-f",
            &held,
            "-c",
            "256",
            "--chunks",
            "24",
            "--kl-divergence-base",
            &base,
        ],
        b"",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let imat = p("imatrix.gguf");
    let r = brisk(
        &[
            "imatrix", "--quiet", "-m", model, "-f", &train, "-c", "256", "--chunks", "32",
            "--no-ppl", "-o", &imat,
        ],
        b"",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let out = p("imatrix-q4_k_m.gguf");
    let r = brisk(
        &[
            "quantize",
            "--quiet",
            "--imatrix",
            &imat,
            model,
            &out,
            "Q4_K_M",
        ],
        b"",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rounded = mean_kld(&out, &base);
    let size = std::fs::metadata(&out).unwrap().len();
    for method in ["gptq", "awq", "awq+gptq"] {
        let out = p(&format!("{method}-q4_k_m.gguf"));
        let r = brisk(
            &[
                "quantize",
                "--method",
                method,
                "--calib",
                &train,
                "--calib-tokens",
                "8192",
                "--calib-ctx",
                "256",
                model,
                &out,
                "Q4_K_M",
            ],
            b"",
        );
        assert_eq!(r.code, Some(0), "{method}: {}", r.stderr);
        assert!(
            r.stderr.contains("blk.5.ffn_down.weight"),
            "{method}: no per-matrix report: {}",
            r.stderr
        );
        // The same types as the plan: the same size as round-to-nearest's file, give or take
        // the imatrix metadata llama-quantize records.
        let s = std::fs::metadata(&out).unwrap().len();
        assert!(s.abs_diff(size) < 1024, "{method}: {s} bytes vs {size}");
        let kld = mean_kld(&out, &base);
        assert!(
            kld < rounded,
            "{method}: mean KLD {kld} is not below imatrix rounding's {rounded}"
        );
        if method != "awq" {
            assert!(
                kld < 0.75 * rounded,
                "{method}: mean KLD {kld} vs imatrix rounding's {rounded}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_calibration_inputs_get_one_clear_line() {
    let Some(fx) = common::fixtures() else { return };
    let dir = temp_dir("bad");
    let model = fx.join("models/prose-5m.gguf");
    let model = model.to_str().unwrap();
    let out = dir.join("out.gguf");
    let out = out.to_str().unwrap();
    let short = dir.join("short.txt");
    std::fs::write(&short, "Too short to calibrate anything.").unwrap();
    let short = short.to_str().unwrap();
    let binary = dir.join("binary.txt");
    std::fs::write(&binary, b"text \xff\xfe more").unwrap();
    let binary = binary.to_str().unwrap();
    let q = |extra: &[&'static str], ty: &'static str| -> Vec<String> {
        let mut v: Vec<String> = vec!["quantize".into()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v.extend([model.to_string(), out.to_string(), ty.to_string()]);
        v
    };
    let with = |method: &str, calib: &str, ty: &str| -> Vec<String> {
        [
            "quantize", "--method", method, "--calib", calib, model, out, ty,
        ]
        .map(String::from)
        .to_vec()
    };
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            q(&["--method", "gptq"], "Q4_0"),
            2,
            "needs calibration text",
        ),
        (q(&["--calib", "x.txt"], "Q4_0"), 2, "only with --method"),
        (with("gptq", "/no/such/file.txt", "Q4_0"), 2, "no such file"),
        (with("gptq", short, "F16"), 2, "cannot target F16"),
        (
            with("awq", short, "Q4_0"),
            1,
            "calibration text is too short",
        ),
        (with("gptq", binary, "Q4_0"), 1, "not UTF-8"),
    ];
    for (args, code, needle) in &cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_fails_with(&a, *code, needle);
        assert!(!Path::new(out).exists(), "{a:?} left {out}");
    }
    // Flag values clap checks.
    for (args, needle) in [
        (q(&["--method", "gptx"], "Q4_0"), "unknown method"),
        (
            q(&["--method", "gptq", "--gptq-damp", "2"], "Q4_0"),
            "invalid damping",
        ),
    ] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = brisk(&a, b"");
        assert_eq!(r.code, Some(2), "{a:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{a:?}: {}", r.stderr);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
