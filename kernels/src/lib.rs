//! brisk-kernels: TEMPORARY stub (replaced by the kernels branch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum QuantType { F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K }
impl QuantType {
    pub fn from_ggml_id(id: u32) -> Option<QuantType> { use QuantType::*; Some(match id { 0=>F32,1=>F16,2=>Q4_0,3=>Q4_1,6=>Q5_0,7=>Q5_1,8=>Q8_0,9=>Q8_1,10=>Q2_K,11=>Q3_K,12=>Q4_K,13=>Q5_K,14=>Q6_K,15=>Q8_K,30=>BF16,_=>return None}) }
    pub fn ggml_id(self) -> u32 { use QuantType::*; match self {F32=>0,F16=>1,Q4_0=>2,Q4_1=>3,Q5_0=>6,Q5_1=>7,Q8_0=>8,Q8_1=>9,Q2_K=>10,Q3_K=>11,Q4_K=>12,Q5_K=>13,Q6_K=>14,Q8_K=>15,BF16=>30} }
    pub fn name(self) -> &'static str { "T" }
    pub fn block_len(self) -> usize { use QuantType::*; match self { F32|F16|BF16=>1, Q4_0|Q4_1|Q5_0|Q5_1|Q8_0|Q8_1=>32, _=>256 } }
    pub fn block_bytes(self) -> usize { use QuantType::*; match self { F32=>4,F16|BF16=>2,Q4_0=>18,Q4_1=>20,Q5_0=>22,Q5_1=>24,Q8_0=>34,Q8_1=>36,Q2_K=>84,Q3_K=>110,Q4_K=>144,Q5_K=>176,Q6_K=>210,Q8_K=>292 } }
}
impl QuantType {
    pub fn row_bytes(self, n: usize) -> Option<usize> { if n % self.block_len() != 0 { None } else { Some(n / self.block_len() * self.block_bytes()) } }
    pub fn vec_dot_type(self) -> QuantType { use QuantType::*; match self { F32|F16|BF16 => F32, Q4_0|Q5_0|Q8_0 => Q8_0, Q4_1|Q5_1 => Q8_1, _ => Q8_K } }
}
pub mod scalar {
    use super::QuantType;
    pub fn dequantize_row(ty: QuantType, src: &[u8], dst: &mut [f32]) {
        match ty { QuantType::F32 => for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) { *d = f32::from_le_bytes([c[0],c[1],c[2],c[3]]); }, _ => todo!() }
    }
}
pub struct Kernels { pub name: &'static str }
impl Kernels {
    pub fn vec_dot(&self, _ty: QuantType, _w: &[u8], _a: &[u8], _n: usize) -> f32 { todo!() }
    pub fn quantize_row(&self, _ty: QuantType, _src: &[f32], _dst: &mut [u8]) { todo!() }
    pub fn dot_f32(&self, a: &[f32], b: &[f32]) -> f32 { a.iter().zip(b).map(|(x,y)| x*y).sum() }
    pub fn dot_f16_f32(&self, _w: &[u8], _x: &[f32]) -> f32 { todo!() }
    pub fn dot_bf16_f32(&self, _w: &[u8], _x: &[f32]) -> f32 { todo!() }
}
pub static SCALAR: Kernels = Kernels { name: "scalar" };
pub fn selected() -> &'static Kernels { &SCALAR }
