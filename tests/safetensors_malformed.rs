//! Malformed safetensors corpus, generated from a valid file: each defect must be an `Err` with a
//! specific message, never a panic; plus 1000 random mutations that must not panic.
mod common;

use brisk::format::safetensors::{parse_header, SafetensorsFile};

/// A file from a raw header text and `data_len` bytes of data.
fn file(header: &str, data_len: usize) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend((0..data_len).map(|i| i as u8));
    out
}

const VALID: &str = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}}"#;

fn err_of(bytes: &[u8]) -> String {
    match parse_header(bytes) {
        Ok(h) => panic!("accepted: {h:?}"),
        Err(e) => {
            common::assert_plain_message(&e);
            e
        }
    }
}

fn expect(tag: &str, bytes: &[u8], needle: &str) {
    let err = err_of(bytes);
    assert!(err.contains(needle), "{tag}: {err:?} lacks {needle:?}");
}

#[test]
fn the_base_file_is_valid() {
    let h = parse_header(&file(VALID, 32)).unwrap();
    assert_eq!(h.tensors.len(), 2);
    assert_eq!(h.tensors[0].name, "a");
    assert_eq!(h.tensors[1].range, h.data_start + 24..h.data_start + 32);
    assert_eq!(h.metadata.get("format").map(String::as_str), Some("pt"));
    // Through a real file too.
    let path = std::env::temp_dir().join(format!("brisk-st-mal-{}.st", std::process::id()));
    std::fs::write(&path, file(VALID, 32)).unwrap();
    let f = SafetensorsFile::open(&path).unwrap();
    assert_eq!(
        f.bytes(&f.tensors()[1]).as_bytes(),
        &[24, 25, 26, 27, 28, 29, 30, 31]
    );
    std::fs::write(&path, file(VALID, 31)).unwrap();
    let err = SafetensorsFile::open(&path).err().unwrap().to_string();
    assert!(err.contains("tensor 'b'") && err.contains(".st:"), "{err}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn bad_header_length() {
    let good = file(VALID, 32);
    for cut in 0..8 {
        expect(
            "short",
            &good[..cut],
            "too short for the 8-byte header length",
        );
    }
    let body_len = good.len() as u64 - 8;
    for len in [u64::MAX, body_len + 1, 1 << 40] {
        let mut b = good.clone();
        b[..8].copy_from_slice(&len.to_le_bytes());
        expect("len", &b, &format!("header length {len} runs past the end"));
    }
    // Header shorter than the JSON: the JSON is cut.
    let mut b = good.clone();
    b[..8].copy_from_slice(&10u64.to_le_bytes());
    expect("len-short", &b, "not valid JSON");
    let mut b = good.clone();
    b[..8].copy_from_slice(&0u64.to_le_bytes());
    expect("len-zero", &b, "not a JSON object");
    // Every truncation of the file is an error.
    for cut in 8..good.len() {
        assert!(parse_header(&good[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn bad_json() {
    expect("text", &file("hello world", 0), "not a JSON object");
    expect("array", &file("[1,2,3]", 0), "not a JSON object");
    expect("unclosed", &file("{\"a\":", 0), "not valid JSON");
    let mut b = file(VALID, 32);
    b[12] = 0xFF;
    expect("utf8", &b, "not UTF-8");
    let dup = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    expect("dup", &file(dup, 8), "key 'a' appears twice");
    let meta = r#"{"__metadata__":{"n":1}}"#;
    expect(
        "meta",
        &file(meta, 0),
        "__metadata__ must map strings to strings",
    );
    let missing = r#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#;
    expect(
        "missing",
        &file(missing, 4),
        "tensor 'a': missing field `dtype`",
    );
    let neg = r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#;
    expect("neg", &file(neg, 4), "tensor 'a'");
    let three = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#;
    expect("offsets3", &file(three, 8), "tensor 'a'");
    // Deep nesting is refused by the JSON parser's recursion limit, not the stack.
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    expect("deep", &file(&deep, 0), "not valid JSON");
    // Trailing spaces (the reference writer's padding) are fine.
    assert!(parse_header(&file(&format!("{VALID}      "), 32)).is_ok());
}

#[test]
fn bad_tensor_entries() {
    let one = |dtype: &str, shape: &str, offsets: &str, data: usize| {
        file(
            &format!(r#"{{"t":{{"dtype":"{dtype}","shape":{shape},"data_offsets":{offsets}}}}}"#),
            data,
        )
    };
    expect(
        "dtype",
        &one("Q4", "[1]", "[0,1]", 1),
        "tensor 't': unknown dtype 'Q4'",
    );
    expect(
        "dtype-case",
        &one("f32", "[1]", "[0,4]", 4),
        "unknown dtype 'f32'",
    );
    expect(
        "past-end",
        &one("F32", "[2]", "[0,8]", 7),
        "run past the end of the data (7 bytes)",
    );
    expect(
        "far",
        &one(
            "F32",
            "[1]",
            "[18446744073709551611,18446744073709551615]",
            4,
        ),
        "run past",
    );
    expect(
        "backwards",
        &one("F32", "[1]", "[8,4]", 8),
        "end before they begin",
    );
    expect(
        "size",
        &one("F32", "[3]", "[0,8]", 8),
        "hold 8 bytes but shape [3] of F32 needs 12",
    );
    expect("size-bf16", &one("BF16", "[2,2]", "[0,4]", 8), "needs 8");
    expect(
        "overflow",
        &one("F32", "[4294967296,4294967296]", "[0,4]", 4),
        "shape [4294967296, 4294967296] overflows",
    );
    expect(
        "overflow-u8",
        &one("U8", "[18446744073709551615,2]", "[0,2]", 2),
        "overflows",
    );
    let overlap = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    expect(
        "overlap",
        &file(overlap, 8),
        "tensor 'b': data overlaps tensor 'a'",
    );
    // Known non-float dtypes parse (they are refused later, only if a model uses them).
    assert!(parse_header(&one("I64", "[2]", "[0,16]", 16)).is_ok());
    assert!(parse_header(&one("F8_E4M3", "[]", "[0,1]", 1)).is_ok());
}

#[test]
fn random_mutations_never_panic() {
    let base = file(VALID, 32);
    let mut x: u64 = 0x0123_4567_89AB_CDEF;
    let mut rnd = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let mut rejected = 0;
    for _ in 0..1000 {
        let mut b = base.clone();
        for _ in 0..1 + rnd(3) {
            if b.is_empty() {
                break;
            }
            let pos = rnd(b.len());
            match rnd(4) {
                0 => b[pos] = b"{}[],:\"0123456789eE-. FBU"[rnd(25)],
                1 => b[pos] ^= 1 << rnd(8),
                2 => b.truncate(pos),
                _ => {
                    b.remove(pos);
                }
            }
        }
        match parse_header(&b) {
            Ok(h) => {
                for t in &h.tensors {
                    assert!(t.range.end <= b.len() && t.range.start <= t.range.end);
                }
            }
            Err(e) => {
                common::assert_plain_message(&e);
                rejected += 1
            }
        }
    }
    assert!(rejected > 500, "{rejected}");
}
