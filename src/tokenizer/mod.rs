//! TEMPORARY stub (replaced by the tok branch).
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct TokenizerError;
pub struct Tokenizer;
impl Tokenizer {
    pub fn from_gguf(_g: &crate::format::gguf::Gguf) -> Result<Tokenizer, TokenizerError> { Ok(Tokenizer) }
    pub fn from_hf_files(_a: &std::path::Path, _b: Option<&std::path::Path>) -> Result<Tokenizer, TokenizerError> { Ok(Tokenizer) }
    pub fn encode(&self, _text: &str, _add_special: bool, _parse_special: bool) -> Vec<u32> { vec![] }
    pub fn token_to_piece(&self, _id: u32, _special: bool) -> Vec<u8> { vec![] }
    pub fn decode(&self, _ids: &[u32], _special: bool) -> String { String::new() }
    pub fn n_vocab(&self) -> usize { 512 }
    pub fn bos(&self) -> Option<u32> { Some(1) }
    pub fn eos(&self) -> Option<u32> { Some(2) }
    pub fn add_bos(&self) -> bool { true }
    pub fn add_eos(&self) -> bool { false }
    pub fn is_eog(&self, id: u32) -> bool { id == 2 }
    pub fn eog_ids(&self) -> &[u32] { &[2] }
    pub fn is_control(&self, _id: u32) -> bool { false }
    pub fn token_text(&self, _id: u32) -> Option<&str> { None }
}
pub struct StreamDecoder { buf: Vec<u8> }
impl StreamDecoder {
    pub fn new() -> Self { StreamDecoder { buf: vec![] } }
    pub fn push(&mut self, bytes: &[u8]) -> String { self.buf.extend_from_slice(bytes); let s = String::from_utf8_lossy(&self.buf).into_owned(); self.buf.clear(); s }
    pub fn finish(&mut self) -> String { String::new() }
}
