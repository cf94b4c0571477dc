//! `brisk imatrix` against llama-imatrix (`tests/data/imatrix`, recorded by
//! `scripts/imatrix-golden.sh`): the same matrices, shapes and counts, and sums that differ only
//! by the float rounding of the two forward passes. With F32 weights that is most in the
//! attention output (llama.cpp rounds Q and the softmax weights to f16 there): measured at most
//! 4.8e-4 relative (median 4e-5) on prose-5m and rand-mixtral, so 1e-3. With F16 weights
//! llama.cpp also rounds every activation to f16 before the product: measured at most 2.1e-3
//! (median 1e-4) on rand-llama-256-f16, so 5e-3. Its files are read back by `brisk quantize`,
//! in both formats; bad input leaves no file.
mod common;

use brisk::quantize::imatrix_file::Imatrix;
use common::process::brisk;
use std::path::{Path, PathBuf};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("brisk-imatrix-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn imatrix(model: &Path, text: &Path, chunks: &str, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "imatrix",
        "-m",
        model.to_str().unwrap(),
        "-f",
        text.to_str().unwrap(),
        "-c",
        "128",
        "--chunks",
        chunks,
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let r = brisk(&args, b"");
    assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
}

fn assert_agrees(ours: &Imatrix, theirs: &Imatrix, what: &str, tol: f32) {
    let names = |m: &Imatrix| m.entries.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(ours), names(theirs), "{what}: the same matrices");
    assert_eq!(
        (ours.chunk_count, ours.chunk_size),
        (theirs.chunk_count, theirs.chunk_size)
    );
    for (name, e) in &theirs.entries {
        let o = &ours.entries[name];
        assert_eq!(o.counts, e.counts, "{what}: {name} counts");
        assert_eq!(o.sums.len(), e.sums.len(), "{what}: {name}");
        for (i, (a, b)) in o.sums.iter().zip(&e.sums).enumerate() {
            assert!(
                (a - b).abs() <= tol * b.abs(),
                "{what}: {name}[{i}] brisk {a}, llama-imatrix {b}"
            );
        }
    }
}

#[test]
fn importance_matrices_equal_llama_imatrixs() {
    let Some(fx) = common::fixtures() else { return };
    let dir = temp_dir("golden");
    let text = fx.join("text/war-and-peace.txt");
    let cases = [
        (fx.join("models/prose-5m.gguf"), "20", "prose-5m", 1e-3),
        (
            fx.join("models/rand-llama-256-f16.gguf"),
            "20",
            "rand-llama-256-f16",
            5e-3,
        ),
        (
            common::arch_fixtures().join("rand-mixtral.gguf"),
            "8",
            "rand-mixtral",
            1e-3,
        ),
    ];
    for (model, chunks, name, tol) in cases {
        let out = dir.join(format!("{name}.gguf"));
        imatrix(&model, &text, chunks, &out, &[]);
        let ours = Imatrix::load(&out).unwrap();
        let theirs = Imatrix::load(Path::new(&format!(
            "tests/data/imatrix/{name}.imatrix.gguf"
        )))
        .unwrap();
        assert_agrees(&ours, &theirs, name, tol);
        assert_eq!(ours.datasets, [text.display().to_string()]);
    }
    let moe = Imatrix::load(&dir.join("rand-mixtral.gguf")).unwrap();
    let e = &moe.entries["blk.0.ffn_down_exps.weight"];
    assert!(e.counts.len() > 1, "one count per expert");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn legacy_dat_files_hold_the_same_importance_and_quantize_takes_both() {
    let Some(fx) = common::fixtures() else { return };
    let dir = temp_dir("dat");
    let model = fx.join("models/prose-5m.gguf");
    let text = fx.join("text/war-and-peace.txt");
    let (gguf, dat) = (dir.join("m.gguf"), dir.join("m.dat"));
    imatrix(&model, &text, "4", &gguf, &["--no-ppl"]);
    imatrix(
        &model,
        &text,
        "4",
        &dat,
        &["--output-format", "dat", "--quiet"],
    );
    let (g, d) = (Imatrix::load(&gguf).unwrap(), Imatrix::load(&dat).unwrap());
    assert!(d.is_legacy && !g.is_legacy);
    assert_eq!(d.chunk_count, 4);
    let (gi, di) = (g.importance(), d.importance());
    assert_eq!(gi.keys().collect::<Vec<_>>(), di.keys().collect::<Vec<_>>());
    for (name, v) in &gi {
        for (a, b) in v.iter().zip(&di[name]) {
            assert!((a - b).abs() <= 1e-5 * a.abs(), "{name}: {a} vs {b}");
        }
    }
    // Q2_K_S refuses to run without an importance matrix; with either file it runs.
    for im in [&gguf, &dat] {
        let out = dir.join("q.gguf");
        let r = brisk(
            &[
                "quantize",
                "--quiet",
                "--imatrix",
                im.to_str().unwrap(),
                model.to_str().unwrap(),
                out.to_str().unwrap(),
                "Q2_K_S",
            ],
            b"",
        );
        assert_eq!(r.code, Some(0), "{}", r.stderr);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_one_line_and_leaves_no_file() {
    let Some(fx) = common::fixtures() else { return };
    let dir = temp_dir("bad");
    let model = fx.join("models/stories260K.gguf");
    let short = dir.join("short.txt");
    std::fs::write(&short, "Once upon a time.").unwrap();
    let out = dir.join("out.gguf");
    let (m, s, o) = (
        model.to_str().unwrap(),
        short.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    for (args, code, needle) in [
        (vec!["-m", m, "-f", s, "-o", o], 1, "tokenizes to only"),
        (
            vec!["-m", m, "-f", s, "-o", o, "--chunk", "3"],
            1,
            "not enough tokens",
        ),
        (vec!["-m", m, "-o", o], 2, "no calibration text"),
        (vec!["-m", m, "-f", s, "-c", "0"], 2, "-c of at least"),
        (vec!["-m", m, "-f", "/nonexistent.txt"], 1, "nonexistent"),
    ] {
        let mut argv = vec!["imatrix"];
        argv.extend(&args);
        common::process::assert_fails_with(&argv, code, needle);
    }
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "short.txt")
        .collect();
    assert!(left.is_empty(), "files left: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ctrl_c_ends_the_run_without_a_partial_file() {
    let Some(fx) = common::fixtures() else { return };
    let dir = temp_dir("interrupt");
    let out = dir.join("im.gguf");
    let model = fx.join("models/prose-5m.gguf");
    let text = fx.join("text/war-and-peace.txt");
    let (m, t, o) = (
        model.to_str().unwrap(),
        text.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let args = [
        "imatrix",
        "-m",
        m,
        "-f",
        t,
        "-c",
        "256",
        "--output-frequency",
        "100000",
        "-o",
        o,
    ];
    let code = common::process::exit_code_when_interrupted(
        &args,
        "importance matrix over",
        std::time::Duration::from_millis(300),
    );
    assert_eq!(code, Some(130));
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "nothing written");
    std::fs::remove_dir_all(&dir).unwrap();
}
