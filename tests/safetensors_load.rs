//! safetensors checkpoints written by hand here (single file and two shards with an index) read
//! back as GGUF-named zero-copy views; directory/file/index entry points; loader-level errors.
use brisk::format::hf_config::HfArch;
use brisk::format::{SafetensorsModel, TensorBytes};
use brisk_kernels::QuantType;
use std::path::{Path, PathBuf};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brisk-st-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct T {
    name: String,
    dtype: &'static str,
    shape: Vec<u64>,
    data: Vec<u8>,
}

fn size_of(dtype: &str) -> u64 {
    match dtype {
        "F32" | "I32" => 4,
        "F16" | "BF16" => 2,
        "I64" => 8,
        _ => 1,
    }
}

fn t(name: &str, dtype: &'static str, shape: &[u64], seed: u8) -> T {
    let n = shape.iter().product::<u64>() * size_of(dtype);
    T {
        name: name.into(),
        dtype,
        shape: shape.to_vec(),
        data: (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect(),
    }
}

/// Encode a safetensors file as the reference writer does (header padded with spaces to 8).
fn encode(tensors: &[&T], metadata: Option<serde_json::Value>) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if let Some(m) = metadata {
        header.insert("__metadata__".into(), m);
    }
    let mut offset = 0u64;
    for t in tensors {
        let end = offset + t.data.len() as u64;
        header.insert(
            t.name.clone(),
            serde_json::json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut text = serde_json::to_string(&header).unwrap().into_bytes();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    for t in tensors {
        out.extend_from_slice(&t.data);
    }
    out
}

const CONFIG: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 2,
  "num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-5,
  "max_position_embeddings": 32, "vocab_size": 4, "bos_token_id": 1, "eos_token_id": 2,
  "torch_dtype": "bfloat16", "rope_scaling": null
}"#;

/// HF tensors of a 2-layer model with mixed dtypes, and the GGUF name each maps to.
fn checkpoint() -> Vec<(T, Option<&'static str>)> {
    let mut v = vec![
        (
            t("model.embed_tokens.weight", "F32", &[4, 8], 1),
            Some("token_embd.weight"),
        ),
        (
            t("model.norm.weight", "F16", &[8], 2),
            Some("output_norm.weight"),
        ),
        (
            t("lm_head.weight", "BF16", &[4, 8], 3),
            Some("output.weight"),
        ),
    ];
    let names: [(&str, &[u64], &'static str); 9] = [
        ("input_layernorm.weight", &[8], "attn_norm.weight"),
        ("self_attn.q_proj.weight", &[8, 8], "attn_q.weight"),
        ("self_attn.k_proj.weight", &[4, 8], "attn_k.weight"),
        ("self_attn.v_proj.weight", &[4, 8], "attn_v.weight"),
        ("self_attn.o_proj.weight", &[8, 8], "attn_output.weight"),
        ("post_attention_layernorm.weight", &[8], "ffn_norm.weight"),
        ("mlp.gate_proj.weight", &[16, 8], "ffn_gate.weight"),
        ("mlp.up_proj.weight", &[16, 8], "ffn_up.weight"),
        ("mlp.down_proj.weight", &[8, 16], "ffn_down.weight"),
    ];
    for layer in 0..2 {
        for (i, (hf, shape, gguf)) in names.iter().enumerate() {
            let gguf: &'static str = Box::leak(format!("blk.{layer}.{gguf}").into_boxed_str());
            v.push((
                t(
                    &format!("model.layers.{layer}.{hf}"),
                    "BF16",
                    shape,
                    (layer * 16 + i) as u8,
                ),
                Some(gguf),
            ));
        }
        v.push((
            t(
                &format!("model.layers.{layer}.self_attn.rotary_emb.inv_freq"),
                "F32",
                &[2],
                9,
            ),
            None,
        ));
    }
    // A buffer of a dtype brisk does not compute with is fine while nothing uses it.
    v.push((t("model.position_ids", "I64", &[1, 4], 0), None));
    v
}

fn check_model(m: &SafetensorsModel, expect: &[(T, Option<&'static str>)], dir: &Path) {
    assert_eq!(m.dir, dir);
    assert_eq!(m.config.arch, HfArch::Llama);
    assert_eq!(m.config.hidden_size, 8);
    let mapped: Vec<_> = expect.iter().filter(|(_, g)| g.is_some()).collect();
    assert_eq!(m.tensors.len(), mapped.len());
    for (hf, gguf) in mapped {
        let gguf = gguf.unwrap();
        let view = m.tensor(gguf).unwrap_or_else(|| panic!("{gguf} missing"));
        let rev: Vec<u64> = hf.shape.iter().rev().copied().collect();
        assert_eq!(view.dims, rev, "{gguf}");
        let ty = match hf.dtype {
            "F32" => QuantType::F32,
            "F16" => QuantType::F16,
            _ => QuantType::BF16,
        };
        assert_eq!(view.ty, ty, "{gguf}");
        assert_eq!(view.bytes.as_bytes(), &hf.data[..], "{gguf}");
        assert!(
            matches!(view.bytes, TensorBytes::Mapped { .. }),
            "zero-copy"
        );
    }
    let mut skipped = m.skipped.clone();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            "model.layers.0.self_attn.rotary_emb.inv_freq",
            "model.layers.1.self_attn.rotary_emb.inv_freq",
            "model.position_ids"
        ]
    );
}

#[test]
fn single_file_checkpoint() {
    let dir = temp_dir("single");
    let ck = checkpoint();
    let refs: Vec<&T> = ck.iter().map(|(t, _)| t).collect();
    let meta = serde_json::json!({"format": "pt"});
    std::fs::write(dir.join("model.safetensors"), encode(&refs, Some(meta))).unwrap();
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
    let m = SafetensorsModel::open(&dir).unwrap();
    check_model(&m, &ck, &dir);
    let m = SafetensorsModel::open(&dir.join("model.safetensors")).unwrap();
    check_model(&m, &ck, &dir);
    let f =
        brisk::format::safetensors::SafetensorsFile::open(dir.join("model.safetensors")).unwrap();
    assert_eq!(f.metadata().get("format").map(String::as_str), Some("pt"));
    assert_eq!(f.tensors().len(), ck.len());
    // Any single .safetensors file in the directory is found when it is the only one.
    std::fs::rename(
        dir.join("model.safetensors"),
        dir.join("weights.safetensors"),
    )
    .unwrap();
    check_model(&SafetensorsModel::open(&dir).unwrap(), &ck, &dir);
    std::fs::write(dir.join("other.safetensors"), encode(&[], None)).unwrap();
    let err = SafetensorsModel::open(&dir).err().unwrap().to_string();
    assert!(err.contains("2 .safetensors files but no"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn write_sharded(dir: &Path, ck: &[(T, Option<&'static str>)]) -> serde_json::Value {
    let (a, b) = ck.split_at(ck.len() / 2);
    let names = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    let mut weight_map = serde_json::Map::new();
    for (part, name) in [a, b].iter().zip(names) {
        let refs: Vec<&T> = part.iter().map(|(t, _)| t).collect();
        std::fs::write(dir.join(name), encode(&refs, None)).unwrap();
        for (t, _) in part.iter() {
            weight_map.insert(t.name.clone(), name.into());
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 1234}, "weight_map": weight_map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
    index
}

#[test]
fn sharded_checkpoint() {
    let dir = temp_dir("sharded");
    let ck = checkpoint();
    write_sharded(&dir, &ck);
    for entry in [
        dir.clone(),
        dir.join("model.safetensors.index.json"),
        dir.join("model-00001-of-00002.safetensors"),
        dir.join("model-00002-of-00002.safetensors"),
    ] {
        let m = SafetensorsModel::open(&entry).unwrap();
        check_model(&m, &ck, &dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn open_err(path: &Path) -> String {
    match SafetensorsModel::open(path) {
        Ok(_) => panic!("{}: opened", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_shard_sets() {
    let ck = checkpoint();
    let set_map = |dir: &Path, f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut index = write_sharded(dir, &ck);
        let map = index["weight_map"].as_object_mut().unwrap();
        f(map);
        std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    };

    let dir = temp_dir("shard-wrong");
    set_map(&dir, &|m| {
        m.insert(
            "lm_head.weight".into(),
            "model-00002-of-00002.safetensors".into(),
        );
    });
    let err = open_err(&dir);
    assert!(
        err.contains("weight_map puts 'lm_head.weight' in model-00002"),
        "{err}"
    );

    let dir2 = temp_dir("shard-escape");
    set_map(&dir2, &|m| {
        m.insert("lm_head.weight".into(), "../model.safetensors".into());
    });
    let err = open_err(&dir2);
    assert!(err.contains("not a plain file name"), "{err}");

    let dir3 = temp_dir("shard-missing");
    write_sharded(&dir3, &ck);
    std::fs::remove_file(dir3.join("model-00002-of-00002.safetensors")).unwrap();
    let err = open_err(&dir3);
    assert!(err.contains("model-00002-of-00002.safetensors"), "{err}");

    let dir4 = temp_dir("shard-dup");
    write_sharded(&dir4, &ck);
    let refs: Vec<&T> = vec![&ck[0].0];
    std::fs::write(
        dir4.join("model-00002-of-00002.safetensors"),
        encode(&refs, None),
    )
    .unwrap();
    let err = open_err(&dir4);
    assert!(err.contains("is also in shard model-00001"), "{err}");

    let dir5 = temp_dir("shard-badjson");
    write_sharded(&dir5, &ck);
    std::fs::write(
        dir5.join("model.safetensors.index.json"),
        "{\"weight_map\": 3}",
    )
    .unwrap();
    let err = open_err(&dir5);
    assert!(err.contains("not a valid index"), "{err}");
    for d in [dir, dir2, dir3, dir4, dir5] {
        let _ = std::fs::remove_dir_all(&d);
    }
}

#[test]
fn loader_errors() {
    // A used tensor of an unsupported dtype: the error names the tensor and the dtype.
    let dir = temp_dir("dtype");
    let q = t("model.layers.0.self_attn.q_proj.weight", "I32", &[8, 8], 0);
    std::fs::write(dir.join("model.safetensors"), encode(&[&q], None)).unwrap();
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
    let err = open_err(&dir);
    assert!(
        err.contains("tensor 'model.layers.0.self_attn.q_proj.weight' has dtype I32"),
        "{err}"
    );

    // Two HF names for one GGUF name.
    let a = t("model.embed_tokens.weight", "F32", &[4, 8], 0);
    let b = t("embed_tokens.weight", "F32", &[4, 8], 0);
    std::fs::write(dir.join("model.safetensors"), encode(&[&a, &b], None)).unwrap();
    let err = open_err(&dir);
    assert!(err.contains("both map to 'token_embd.weight'"), "{err}");

    // Five dimensions; an empty tensor.
    let c = t("model.norm.weight", "F32", &[1, 1, 1, 1, 8], 0);
    std::fs::write(dir.join("model.safetensors"), encode(&[&c], None)).unwrap();
    assert!(open_err(&dir).contains("has 5 dimensions"));
    let c = t("model.norm.weight", "F32", &[0], 0);
    std::fs::write(dir.join("model.safetensors"), encode(&[&c], None)).unwrap();
    assert!(open_err(&dir).contains("is empty"));

    // No config.json; an unsupported architecture.
    std::fs::remove_file(dir.join("config.json")).unwrap();
    assert!(open_err(&dir).contains("config.json"));
    std::fs::write(
        dir.join("config.json"),
        CONFIG.replace("LlamaForCausalLM", "GPT2LMHeadModel"),
    )
    .unwrap();
    let err = open_err(&dir);
    assert!(
        err.contains("unsupported architecture [\"GPT2LMHeadModel\"]"),
        "{err}"
    );

    // Nothing to read.
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
    assert!(open_err(&dir).contains("no model.safetensors"));
    assert!(open_err(&dir.join("absent")).contains("absent"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scalars_and_views() {
    let dir = temp_dir("scalar");
    let s = t("model.norm.weight", "F32", &[], 5);
    std::fs::write(dir.join("model.safetensors"), encode(&[&s], None)).unwrap();
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
    let m = SafetensorsModel::open(&dir.join("model.safetensors")).unwrap();
    let v = m.tensor("output_norm.weight").unwrap();
    assert_eq!(v.dims, [1]);
    assert_eq!(v.bytes.len(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}
