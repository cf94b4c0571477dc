//! SentencePiece `tokenizer.model` files (a `ModelProto` protobuf): the pieces with their scores
//! and types, which is all llama.cpp's converter takes from them. A small protobuf wire-format
//! reader; every length is checked against the bytes left, so a corrupt file is an error.
use anyhow::{bail, Result};

/// Piece types as the protobuf stores them — the same numbers GGUF's `token_type` uses.
pub const NORMAL: i32 = 1;
pub const UNKNOWN: i32 = 2;
pub const CONTROL: i32 = 3;
pub const USER_DEFINED: i32 = 4;
pub const UNUSED: i32 = 5;
pub const BYTE: i32 = 6;

#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    pub text: String,
    pub score: f32,
    pub kind: i32,
}

struct Wire<'a> {
    buf: &'a [u8],
}

enum Field<'a> {
    Varint(u64),
    Fixed32([u8; 4]),
    Fixed64,
    Bytes(&'a [u8]),
}

impl<'a> Wire<'a> {
    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some((&b, rest)) = self.buf.split_first() else {
                bail!("truncated varint");
            };
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        bail!("varint longer than 10 bytes")
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            bail!("a field of {n} bytes runs past the end");
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// The next (field number, value), or `None` at the end.
    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Field::Fixed64
            }
            2 => {
                let n = self.varint()?;
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                Field::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                Field::Fixed32([b[0], b[1], b[2], b[3]])
            }
            w => bail!("unsupported protobuf wire type {w}"),
        };
        Ok(Some((key >> 3, field)))
    }
}

fn piece(buf: &[u8]) -> Result<Piece> {
    let mut w = Wire { buf };
    let mut p = Piece {
        text: String::new(),
        score: 0.0,
        kind: NORMAL,
    };
    while let Some((no, f)) = w.next()? {
        match (no, f) {
            (1, Field::Bytes(b)) => {
                p.text = String::from_utf8(b.to_vec())
                    .map_err(|_| anyhow::anyhow!("a piece is not valid UTF-8"))?
            }
            (2, Field::Fixed32(b)) => p.score = f32::from_le_bytes(b),
            (3, Field::Varint(v)) => p.kind = v as i32,
            _ => {}
        }
    }
    Ok(p)
}

/// The pieces of a `ModelProto`, in id order.
pub fn parse(buf: &[u8]) -> Result<Vec<Piece>> {
    let mut w = Wire { buf };
    let mut pieces = Vec::new();
    while let Some((no, f)) = w.next()? {
        if let (1, Field::Bytes(b)) = (no, f) {
            pieces.push(piece(b)?);
        }
    }
    if pieces.is_empty() {
        bail!("no pieces (not a SentencePiece model)");
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(no: u8, wire: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![(no << 3) | wire];
        if wire == 2 {
            v.push(body.len() as u8);
        }
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn reads_pieces_and_refuses_truncation() {
        let mut p = field(1, 2, b"<unk>");
        p.extend(field(2, 5, &0.5f32.to_le_bytes()));
        p.extend(field(3, 0, &[2]));
        let mut model = field(1, 2, &p);
        model.extend(field(2, 2, b"\x08\x01")); // trainer spec, ignored
        let pieces = parse(&model).unwrap();
        assert_eq!(
            pieces,
            [Piece {
                text: "<unk>".into(),
                score: 0.5,
                kind: UNKNOWN
            }]
        );
        assert!(parse(&model[..model.len() - 3]).is_err());
        assert!(parse(b"").is_err());
    }
}
