//! The shape and score rules of one attention call, shared by every backend's attention.

/// Shapes and score rules of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub head_dim_v: usize,
    /// Multiplies every score (1/√head_dim for most models).
    pub scale: f32,
    /// Scores become `cap · tanh(s / cap)` before the softmax (Gemma 2).
    pub softcap: Option<f32>,
    /// The query at `p` sees keys `p − window + 1 ..= p` only.
    pub window: Option<usize>,
}

impl AttnShape {
    /// Plain causal attention scaled by 1/√head_dim.
    pub fn causal(n_head: usize, n_head_kv: usize, head_dim: usize, head_dim_v: usize) -> Self {
        AttnShape {
            n_head,
            n_head_kv,
            head_dim,
            head_dim_v,
            scale: 1.0 / (head_dim as f32).sqrt(),
            softcap: None,
            window: None,
        }
    }

    /// The first key position the query at `pos` sees.
    pub fn first_visible(&self, pos: usize) -> usize {
        self.window.map_or(0, |w| (pos + 1).saturating_sub(w))
    }
}
