//! The forward pass's verbs on the CPU: activations are host vectors, weights the file's
//! zero-copy `QTensor`s, and every verb one call into the selected kernel table.
use super::rope::Rope;
use super::tensor::QTensor;
use super::verbs::{Backend, Glu};
use super::Cpu;

impl Backend for Cpu {
    type Act = Vec<f32>;
    type Weight = QTensor;
    type Vector = Vec<f32>;

    fn act(&self, len: usize) -> Vec<f32> {
        vec![0.0; len]
    }

    fn resize(&self, a: &mut Vec<f32>, len: usize) {
        a.resize(len, 0.0);
    }

    fn write(&self, a: &mut Vec<f32>, host: &[f32]) {
        a.clear();
        a.extend_from_slice(host);
    }

    fn read(&self, a: &Vec<f32>) -> Vec<f32> {
        a.clone()
    }

    fn take(&self, a: Vec<f32>) -> Vec<f32> {
        a
    }

    fn weight_rows(w: &QTensor) -> usize {
        w.rows
    }

    fn matmuls(&self, x: &Vec<f32>, n: usize, jobs: &mut [(&QTensor, &mut Vec<f32>)]) {
        let mut slices: Vec<(&QTensor, &mut [f32])> = jobs
            .iter_mut()
            .map(|(w, out)| {
                out.resize(n * w.rows, 0.0);
                (*w, out.as_mut_slice())
            })
            .collect();
        self.matmul_slices(x, n, &mut slices);
    }

    fn rms_norm(&self, x: &Vec<f32>, width: usize, w: &Vec<f32>, eps: f32, out: &mut Vec<f32>) {
        out.resize(x.len(), 0.0);
        for (src, dst) in x.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
            (self.kernels.rms_norm)(src, w, eps, dst);
        }
    }

    fn add_bias(&self, x: &mut Vec<f32>, bias: &Vec<f32>) {
        for row in x.chunks_exact_mut(bias.len()) {
            (self.kernels.add)(row, bias);
        }
    }

    fn add(&self, x: &mut Vec<f32>, y: &Vec<f32>) {
        (self.kernels.add)(x, y);
    }

    fn scale(&self, x: &mut Vec<f32>, s: f32) {
        (self.kernels.scale)(x, s);
    }

    fn softcap(&self, x: &mut Vec<f32>, cap: f32) {
        for v in x.iter_mut() {
            *v = cap * (*v / cap).tanh();
        }
    }

    fn glu(&self, act: Glu, gate: &Vec<f32>, up: &Vec<f32>, out: &mut Vec<f32>) {
        out.resize(gate.len(), 0.0);
        let f = match act {
            Glu::Silu => self.kernels.silu_mul,
            Glu::GeluTanh => self.kernels.gelu_mul,
        };
        f(gate, up, out);
    }

    fn rope(&self, rope: &Rope, x: &mut Vec<f32>, width: usize, head_dim: usize, start: usize) {
        rope.apply(x, width, head_dim, start);
    }

    fn gather_rows(&self, x: &Vec<f32>, width: usize, rows: &[usize], out: &mut Vec<f32>) {
        out.clear();
        for &r in rows {
            out.extend_from_slice(&x[r * width..(r + 1) * width]);
        }
    }

    fn add_rows_scaled(
        &self,
        out: &mut Vec<f32>,
        width: usize,
        y: &Vec<f32>,
        rows: &[(usize, f32)],
    ) {
        for (&(t, w), src) in rows.iter().zip(y.chunks_exact(width)) {
            for (o, &v) in out[t * width..(t + 1) * width].iter_mut().zip(src) {
                *o += w * v;
            }
        }
    }

    fn zero(&self, x: &mut Vec<f32>) {
        x.fill(0.0);
    }
}
