//! The verbs the forward pass is written in: a backend owns its activations, weights, vectors
//! and KV storage, and the model calls only these, so one forward pass runs on the CPU, on a GPU,
//! or split between them.
use super::rope::Rope;
use super::AttnShape;

/// The feed-forward gate's activation: `act(gate) · up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Glu {
    /// SwiGLU (Shazeer 2020).
    Silu,
    /// GeGLU with the tanh approximation of GELU (Gemma).
    GeluTanh,
}

/// Compute verbs over backend-owned buffers. An activation buffer is a row-major f32 matrix
/// whose length the caller sets with [`Backend::resize`]; every verb reads and writes whole
/// buffers (`n` rows of the width the weights or arguments imply).
pub trait Backend {
    /// Activations: f32 rows where the backend computes.
    type Act;
    /// A weight matrix (`rows` outputs × `cols` inputs) in the layout the backend's kernels read.
    type Weight;
    /// A small f32 vector: a norm's weights, a bias.
    type Vector;

    /// A zeroed buffer of `len` floats.
    fn act(&self, len: usize) -> Self::Act;
    /// Make `a` hold `len` floats (contents unspecified after growing).
    fn resize(&self, a: &mut Self::Act, len: usize);
    /// Copy host rows into `a` (resized to `host.len()`).
    fn write(&self, a: &mut Self::Act, host: &[f32]);
    /// The buffer's floats, on the host.
    fn read(&self, a: &Self::Act) -> Vec<f32>;
    /// [`Backend::read`], consuming the buffer (no copy where it is already on the host).
    fn take(&self, a: Self::Act) -> Vec<f32> {
        self.read(&a)
    }
    /// Output rows of `w`.
    fn weight_rows(w: &Self::Weight) -> usize;

    /// For each job `(w, out)`: `out[t][r] = Σ_c w[r][c] · x[t][c]` for the `n` rows of `x`;
    /// each `out` is resized to `n × w.rows`. Jobs share the activations.
    fn matmuls(&self, x: &Self::Act, n: usize, jobs: &mut [(&Self::Weight, &mut Self::Act)]);
    /// One [`Backend::matmuls`] job.
    fn matmul(&self, w: &Self::Weight, x: &Self::Act, n: usize, out: &mut Self::Act) {
        self.matmuls(x, n, &mut [(w, out)]);
    }
    /// RMSNorm of every `width`-wide row of `x` into `out` (resized to `x`'s length).
    fn rms_norm(
        &self,
        x: &Self::Act,
        width: usize,
        w: &Self::Vector,
        eps: f32,
        out: &mut Self::Act,
    );
    /// `x[t] += bias` for every row `t` (rows as wide as `bias`).
    fn add_bias(&self, x: &mut Self::Act, bias: &Self::Vector);
    /// `x += y` element-wise.
    fn add(&self, x: &mut Self::Act, y: &Self::Act);
    /// `x *= s`.
    fn scale(&self, x: &mut Self::Act, s: f32);
    /// `x = cap · tanh(x / cap)`.
    fn softcap(&self, x: &mut Self::Act, cap: f32);
    /// `out = act(gate) ⊙ up` (resized to `gate`'s length).
    fn glu(&self, act: Glu, gate: &Self::Act, up: &Self::Act, out: &mut Self::Act);
    /// RoPE on every `head_dim`-wide head of each `width`-wide row; row `t` is at `start + t`.
    fn rope(&self, rope: &Rope, x: &mut Self::Act, width: usize, head_dim: usize, start: usize);
    /// `out` = the `width`-wide rows `rows` of `x`, in that order.
    fn gather_rows(&self, x: &Self::Act, width: usize, rows: &[usize], out: &mut Self::Act);
    /// `out[t] += w · y[i]` for each `(i, (t, w))` of `rows` (rows `width` wide).
    fn add_rows_scaled(
        &self,
        out: &mut Self::Act,
        width: usize,
        y: &Self::Act,
        rows: &[(usize, f32)],
    );
    /// `x` = 0 (length kept).
    fn zero(&self, x: &mut Self::Act);
}

/// Attention over a KV storage the backend owns.
pub trait Attention: Backend {
    /// One sequence's keys and values, for the layers this backend runs.
    type Kv: ?Sized;

    /// Store the `n` key and value rows of `layer` at positions `start..start + n`.
    #[allow(clippy::too_many_arguments)]
    fn kv_store(
        &self,
        kv: &mut Self::Kv,
        layer: usize,
        start: usize,
        n: usize,
        k: &Self::Act,
        v: &Self::Act,
    );
    /// Attention of the query rows `q` (positions `start..`) over the stored positions, into
    /// `out` (resized to `n × n_head × head_dim_v`).
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        kv: &Self::Kv,
        layer: usize,
        shape: AttnShape,
        q: &Self::Act,
        start: usize,
        out: &mut Self::Act,
    );
}
