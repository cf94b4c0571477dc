//! Every architecture fixture (`tests/fixtures/arch`, llama.cpp's GGUF layout) written back as the
//! Hugging Face checkpoint llama.cpp's converter would have read — HF tensor names, Llama's Q/K
//! rows un-permuted, Gemma's norms stored as `w` for `1 + w`, experts as one tensor each, the
//! config fields of each family (`rope_scaling` llama3/longrope, Gemma's window pattern and caps,
//! expert counts) — must load as the same model: the same logits on the golden's tokens.
mod common;

use brisk::generate::Session;
use brisk::model::{loader, Logits};
use common::arch_checkpoint::{convert, ARCH_FIXTURES};

#[test]
fn hf_checkpoints_of_every_architecture_match_their_gguf() {
    let dir = common::arch_fixtures();
    let tmp = std::env::temp_dir().join(format!("brisk-arch-st-{}", std::process::id()));
    let mut checked = Vec::new();
    for name in ARCH_FIXTURES {
        let gguf_path = dir.join(format!("{name}.gguf"));
        let golden: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        let out = tmp.join(name);
        assert!(convert(&gguf_path, &out), "{name}: converted");
        let a = loader::load(&gguf_path, 1).expect("load gguf");
        let b = loader::load(&out, 1).unwrap_or_else(|e| panic!("{name}: load HF: {e}"));
        let case = &golden["cases"][1];
        let toks: Vec<u32> = case["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .chain(case["greedy"].as_array().unwrap())
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let la = Session::new(&a.model, 512)
            .eval(&toks, Logits::All)
            .unwrap();
        let lb = Session::new(&b.model, 512)
            .eval(&toks, Logits::All)
            .unwrap();
        let scale = la.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let worst = la
            .iter()
            .zip(&lb)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        // The same weights and arithmetic; Llama's RoPE pairs sit elsewhere (adjacent in the
        // permuted GGUF rows, half-split in HF's) and Gemma's norms add the 1 in f32, so only
        // rounding differs.
        assert!(
            worst <= 1e-4 * scale.max(1.0),
            "{name}: max |Δlogit| {worst} (scale {scale})"
        );
        checked.push(format!("{name}: {worst:.2e}"));
    }
    eprintln!("{}", checked.join(", "));
    let _ = std::fs::remove_dir_all(&tmp);
}
