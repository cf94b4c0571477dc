//! llama-perplexity's base-logits file (`--kl-divergence-base`), byte for byte: `_logits_`,
//! then n_ctx, n_vocab and n_chunk as i32, the n_chunk·n_ctx evaluated tokens as i32, then per
//! chunk its n_ctx − 1 − n_ctx/2 scored rows. A row is `2·⌈n_vocab/2⌉ + 4` u16: the f32 scale
//! and the f32 smallest log-probability in its first four, then each log-probability quantized
//! to 16 bits over at most 16 nats below the largest (an odd vocabulary pads with one zero).
use super::EvalError;
use crate::format::atomic_file::AtomicFile;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

pub const MAGIC: &[u8; 8] = b"_logits_";

/// u16 values in one row for a vocabulary of `n_vocab`.
pub fn row_len(n_vocab: usize) -> usize {
    2 * n_vocab.div_ceil(2) + 4
}

/// Rows per chunk of context `n_ctx`.
pub fn rows_per_chunk(n_ctx: usize) -> usize {
    n_ctx - 1 - n_ctx / 2
}

/// ggml's round-to-nearest by the 1.5·2²³ trick (as llama-perplexity rounds).
fn nearest_int(x: f32) -> i32 {
    let v = x + 12_582_912.0;
    ((v.to_bits() & 0x007f_ffff) as i32) - 0x0040_0000
}

/// Quantize `logits` as one base row into `row` (`row_len` long) and return the NLL of `tok`
/// in llama-perplexity's f32 form (`max + ln Σ − logit`).
pub fn quantize_row(logits: &[f32], tok: usize, row: &mut [u16]) -> f64 {
    let mut max = logits[0];
    let mut min = logits[0];
    for &l in &logits[1..] {
        max = max.max(l);
        min = min.min(l);
    }
    let min = min.max(max - 16.0);
    let mut sum = 0.0f64;
    for &l in logits {
        sum += (l - max).exp() as f64;
    }
    let log_sum = sum.ln() as f32;
    let min_log_prob = min - max - log_sum;
    let scale = (max - min) / 65535.0;
    row[..2].copy_from_slice(&f32_halves(scale));
    row[2..4].copy_from_slice(&f32_halves(min_log_prob));
    let q = &mut row[4..];
    q.fill(0);
    if scale != 0.0 {
        let inv = 1.0 / scale;
        for (o, &l) in q.iter_mut().zip(logits) {
            if l > min {
                *o = nearest_int(inv * (l - min)) as u16;
            }
        }
    }
    (max + log_sum - logits[tok]) as f64
}

fn f32_halves(v: f32) -> [u16; 2] {
    let b = v.to_le_bytes();
    [
        u16::from_le_bytes([b[0], b[1]]),
        u16::from_le_bytes([b[2], b[3]]),
    ]
}

/// A base row's `(scale, min_log_prob, quantized values)`: log p_i = scale·q_i + min.
pub fn row_parts(row: &[u16]) -> (f32, f32, &[u16]) {
    let f = |i: usize| {
        let (a, b) = (row[i].to_le_bytes(), row[i + 1].to_le_bytes());
        f32::from_le_bytes([a[0], a[1], b[0], b[1]])
    };
    (f(0), f(2), &row[4..])
}

/// The header of a base file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub n_ctx: usize,
    pub n_vocab: usize,
    pub n_chunk: usize,
    /// The tokens evaluated, `n_chunk · n_ctx` of them (each chunk's first one as tokenized,
    /// before the BOS replacement).
    pub tokens: Vec<u32>,
}

impl Header {
    /// Bytes of the whole file this header describes.
    pub fn file_len(&self) -> Option<u64> {
        let rows = (self.n_chunk as u64).checked_mul(rows_per_chunk(self.n_ctx) as u64)?;
        let data = rows.checked_mul(2 * row_len(self.n_vocab) as u64)?;
        let toks = (self.n_chunk as u64).checked_mul(4 * self.n_ctx as u64)?;
        20u64.checked_add(toks)?.checked_add(data)
    }
}

fn i32_le(v: usize) -> Result<[u8; 4], EvalError> {
    i32::try_from(v)
        .map(i32::to_le_bytes)
        .map_err(|_| EvalError::BaseFile(format!("{v} does not fit the base-logits format")))
}

/// Writes a base file; it appears at its path only when every chunk is in (`finish`).
pub struct Writer {
    out: AtomicFile,
    rows_left: usize,
}

impl Writer {
    pub fn create(path: &Path, h: &Header) -> Result<Writer, EvalError> {
        let mut out = AtomicFile::create(path)?;
        out.write_all(MAGIC)?;
        for v in [h.n_ctx, h.n_vocab, h.n_chunk] {
            out.write_all(&i32_le(v)?)?;
        }
        for &t in &h.tokens {
            out.write_all(&i32_le(t as usize)?)?;
        }
        Ok(Writer {
            out,
            rows_left: h.n_chunk * rows_per_chunk(h.n_ctx),
        })
    }

    /// Append rows (whole rows, in order).
    pub fn write_rows(&mut self, rows: &[u16], row_len: usize) -> Result<(), EvalError> {
        self.rows_left = self.rows_left.saturating_sub(rows.len() / row_len);
        let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.out.write_all(&bytes)?;
        Ok(())
    }

    /// Put the file in place (an error if rows are missing).
    pub fn finish(self) -> Result<(), EvalError> {
        if self.rows_left != 0 {
            return Err(EvalError::BaseFile(format!(
                "base-logits file incomplete: {} rows missing",
                self.rows_left
            )));
        }
        Ok(self.out.commit()?)
    }
}

/// Reads a base file chunk by chunk, its size checked against its header first.
pub struct Reader {
    pub header: Header,
    file: BufReader<File>,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, EvalError> {
        let name = path.display();
        let bad = |why: String| EvalError::BaseFile(format!("{name}: {why}"));
        let f = File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
        let len = f.metadata()?.len();
        let mut file = BufReader::with_capacity(1 << 20, f);
        let mut head = [0u8; 20];
        if file.read_exact(&mut head).is_err() || &head[..8] != MAGIC {
            return Err(bad(
                "not a base-logits file (llama-perplexity --kl-divergence-base writes them)".into(),
            ));
        }
        let field = |i: usize| i32::from_le_bytes(head[8 + 4 * i..12 + 4 * i].try_into().unwrap());
        let (n_ctx, n_vocab, n_chunk) = (field(0), field(1), field(2));
        if n_ctx < 4 || n_vocab < 1 || n_chunk < 1 {
            return Err(bad(format!(
                "header says n_ctx {n_ctx}, n_vocab {n_vocab}, n_chunk {n_chunk}"
            )));
        }
        let mut header = Header {
            n_ctx: n_ctx as usize,
            n_vocab: n_vocab as usize,
            n_chunk: n_chunk as usize,
            tokens: Vec::new(),
        };
        // The size is checked before anything is allocated from the header's counts.
        match header.file_len() {
            Some(expect) if expect == len => {}
            expect => {
                return Err(bad(format!(
                    "{len} bytes, but its header (n_ctx {n_ctx}, n_vocab {n_vocab}, {n_chunk} \
                     chunks) needs {} (truncated?)",
                    expect.map_or("more".into(), |e| e.to_string())
                )))
            }
        }
        let mut raw = vec![0u8; 4 * header.n_ctx * header.n_chunk];
        file.read_exact(&mut raw)?;
        header.tokens = raw
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
            .map(|t| {
                u32::try_from(t)
                    .ok()
                    .filter(|&t| (t as usize) < header.n_vocab)
            })
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(|| bad("holds a token id outside its vocabulary".into()))?;
        Ok(Reader { header, file })
    }

    /// The next chunk's rows (`rows_per_chunk · row_len` u16) into `rows`.
    pub fn read_chunk(&mut self, rows: &mut Vec<u16>) -> Result<(), EvalError> {
        let n = rows_per_chunk(self.header.n_ctx) * row_len(self.header.n_vocab);
        let mut raw = vec![0u8; 2 * n];
        self.file.read_exact(&mut raw)?;
        rows.clear();
        rows.extend(
            raw.chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]])),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_quantize_log_probabilities_over_16_nats() {
        let logits = [2.0f32, -30.0, 0.5, 2.0, 1.0];
        let mut row = vec![0u16; row_len(logits.len())];
        assert_eq!(row.len(), 10);
        let nll = quantize_row(&logits, 2, &mut row);
        let (scale, min, q) = row_parts(&row);
        let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        assert!((nll - (z.ln() - 0.5)).abs() < 1e-5);
        assert!((scale - 16.0 / 65535.0).abs() < 1e-9);
        for (i, &l) in logits.iter().enumerate() {
            let want = (l as f64 - z.ln()).max(min as f64);
            let got = scale as f64 * q[i] as f64 + min as f64;
            assert!((got - want).abs() < 2e-4, "{i}: {got} vs {want}");
        }
        assert_eq!(q[1], 0, "below the 16-nat floor");
        assert_eq!(row[9], 0, "odd vocabulary: one zero of padding");
    }

    #[test]
    fn a_file_round_trips_and_a_truncated_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("brisk-base-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("base.kld");
        let h = Header {
            n_ctx: 8,
            n_vocab: 3,
            n_chunk: 2,
            tokens: (0..16).map(|t| t % 3).collect(),
        };
        let mut w = Writer::create(&path, &h).unwrap();
        let rl = row_len(3);
        let rows: Vec<u16> = (0..(3 * rl) as u16).collect();
        w.write_rows(&rows, rl).unwrap();
        w.write_rows(&rows, rl).unwrap();
        w.finish().unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            h.file_len().unwrap()
        );
        let mut r = Reader::open(&path).unwrap();
        assert_eq!(r.header, h);
        let mut got = Vec::new();
        r.read_chunk(&mut got).unwrap();
        assert_eq!(got, rows);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let e = Reader::open(&path).err().unwrap().to_string();
        assert!(e.contains("truncated"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
