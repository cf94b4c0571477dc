//! WGSL of every GPU kernel but the weight decoders (`quant_wgsl`): the matmul template, RMSNorm,
//! element-wise verbs, RoPE, KV stores and flash attention. Each kernel is its own module with
//! its storage buffers at bindings 0.. and its parameters (u32s, f32 as bits) in a uniform at
//! the next binding, read with `prm(i)`.
use super::quant_wgsl::{self, BYTES, F16_BITS};
use brisk_kernels::QuantType;

/// Work-group width of the matmul and reduction kernels.
pub const WG: u32 = 64;
/// Token rows one matmul work-group computes at once (the decoded chunk is reused for each).
pub const TOKEN_TILE: u32 = 8;
/// Threads of the element-wise kernels' work-groups.
pub const EW: u32 = 256;

/// Parameters: 16 u32 words.
const PARAMS: &str = r#"
fn prm(i: u32) -> u32 { return P[i / 4u][i % 4u]; }
fn prmf(i: u32) -> f32 { return bitcast<f32>(prm(i)); }
"#;

fn uniform(binding: u32) -> String {
    format!("@group(0) @binding({binding}) var<uniform> P: array<vec4<u32>, 4>;\n{PARAMS}")
}

/// Every kernel, by name, for the shader tests (each matmul once per decoded type).
pub fn all() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = ELEMENTWISE
        .iter()
        .map(|(name, _, _)| (name.to_string(), elementwise(name)))
        .collect();
    out.push(("rms_norm".into(), rms_norm()));
    out.push(("rope".into(), rope()));
    out.push(("kv_store".into(), kv_store()));
    out.push(("kv_store_q8".into(), kv_store_q8()));
    for (k, v) in [(false, false), (true, true), (false, true), (true, false)] {
        out.push((attention_key(k, v), attention(k, v)));
    }
    for ty in QuantType::ALL {
        for threads in [TOKEN_TILE, WG] {
            if let Some(src) = matmul(ty, threads) {
                out.push((format!("matmul_{}_{threads}", ty.name()), src));
            }
        }
    }
    out
}

/// Threads per weight row for rows of `cols` values: enough for the row's 32-value chunks, from
/// 8 to `WG` (a power of two); a work-group computes `WG / threads` rows.
pub fn row_threads(cols: usize) -> u32 {
    (cols.div_ceil(32).next_power_of_two() as u32).clamp(TOKEN_TILE, WG)
}

/// `y[t][row0 + r] = Σ_c w[r][c] · x[t][c]`: each row takes `threads` (see [`row_threads`]) of a
/// work-group's `WG`, so a work-group computes `WG / threads` rows (the grid's x·y), for
/// `TOKEN_TILE` tokens per z; a row's threads stride over its 32-value chunks, decode each once
/// and dot it with every token of the tile, then reduce among themselves.
/// Params: rows, cols, n, row_bytes, out_stride, out_row0, grid_x.
pub fn matmul(ty: QuantType, threads: u32) -> Option<String> {
    let d = quant_wgsl::decoder(ty)?;
    Some(format!(
        r#"
@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
{uni}
{F16_BITS}
{BYTES}
{dq}
const BB: u32 = {bb}u;
const CPB: u32 = {cpb}u;
const WG: u32 = {WG}u;
const T: u32 = {threads}u;
const TT: u32 = {TOKEN_TILE}u;
var<workgroup> red: array<f32, {red}>;

@compute @workgroup_size({WG})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {{
    let rows = prm(0u);
    let cols = prm(1u);
    let n = prm(2u);
    let lane = l.x % T;
    let row = (g.y * prm(6u) + g.x) * (WG / T) + l.x / T;
    let t0 = g.z * TT;
    let nt = min(TT, n - t0);
    var acc: array<f32, {TOKEN_TILE}>;
    let chunks = (cols + 31u) / 32u;
    if (row < rows) {{
        var v: array<f32, 32>;
        for (var c = lane; c < chunks; c += T) {{
            dq32(row * prm(3u) + (c / CPB) * BB, c % CPB, &v);
            let len = min(32u, cols - 32u * c);
            for (var t = 0u; t < nt; t++) {{
                let xo = (t0 + t) * cols + 32u * c;
                var s = 0.0;
                for (var i = 0u; i < len; i++) {{ s += v[i] * x[xo + i]; }}
                acc[t] += s;
            }}
        }}
    }}
    for (var t = 0u; t < TT; t++) {{ red[t * WG + l.x] = acc[t]; }}
    workgroupBarrier();
    for (var s = T / 2u; s > 0u; s >>= 1u) {{
        if (lane < s) {{
            for (var t = 0u; t < TT; t++) {{ red[t * WG + l.x] += red[t * WG + l.x + s]; }}
        }}
        workgroupBarrier();
    }}
    if (row < rows && lane < nt) {{
        y[(t0 + lane) * prm(4u) + prm(5u) + row] = red[lane * WG + l.x - lane];
    }}
}}
"#,
        uni = uniform(3),
        dq = d.wgsl,
        bb = d.block_bytes,
        cpb = d.chunks,
        red = WG * TOKEN_TILE,
    ))
}

/// The element-wise kernels: name, bindings (`r` read, `w` read-write f32s, `u` read u32s, in
/// order), body over index `i < prm(0)` (the length).
pub const ELEMENTWISE: &[(&str, &str, &str)] = &[
    ("add", "a:w b:r", "a[i] += b[i];"),
    ("add_bias", "a:w b:r", "a[i] += b[i % prm(1u)];"),
    ("scale", "a:w", "a[i] *= prmf(1u);"),
    (
        "softcap",
        "a:w",
        "let cap = prmf(1u); a[i] = cap * tanh(clamp(a[i] / cap, -15.0, 15.0));",
    ),
    (
        "silu_mul",
        "g:r u:r o:w",
        "let x = g[i]; o[i] = x / (1.0 + exp(-x)) * u[i];",
    ),
    (
        "gelu_mul",
        "g:r u:r o:w",
        "let x = g[i]; o[i] = 0.5 * x * (1.0 + tanh(clamp(0.7978846 * x * (1.0 + 0.044715 * x * x), -15.0, 15.0))) * u[i];",
    ),
    (
        "gather_rows",
        "x:r idx:u o:w",
        "let wd = prm(1u); o[i] = x[idx[i / wd] * wd + i % wd];",
    ),
    (
        "add_rows_scaled",
        "o:w y:r idx:u",
        "let wd = prm(1u); let r = i / wd; o[idx[2u * r] * wd + i % wd] += bitcast<f32>(idx[2u * r + 1u]) * y[i];",
    ),
];

/// WGSL of the element-wise kernel `name` (grid: x·y work-groups of `EW`; params: len, …,
/// and `grid_x` in word 15).
pub fn elementwise(name: &str) -> String {
    let (_, binds, body) = ELEMENTWISE
        .iter()
        .find(|(n, _, _)| *n == name)
        .expect("a known element-wise kernel");
    let mut src = String::new();
    let mut count = 0;
    for (b, spec) in binds.split(' ').enumerate() {
        let (var, mode) = spec.split_once(':').expect("name:mode");
        let (access, ty) = match mode {
            "w" => ("read_write", "f32"),
            "u" => ("read", "u32"),
            _ => ("read", "f32"),
        };
        src += &format!("@group(0) @binding({b}) var<storage, {access}> {var}: array<{ty}>;\n");
        count += 1;
    }
    src += &uniform(count);
    src += &format!(
        r#"
@compute @workgroup_size({EW})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{
    let i = (wid.y * prm(15u) + wid.x) * {EW}u + lid.x;
    if (i >= prm(0u)) {{ return; }}
    {body}
}}
"#
    );
    src
}

/// RMSNorm of each `width`-wide row: one work-group per row (grid x·y).
/// Params: rows, width, eps (f32), grid_x.
pub fn rms_norm() -> String {
    format!(
        r#"
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;
{uni}
var<workgroup> red: array<f32, {WG}>;
@compute @workgroup_size({WG})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {{
    let row = g.y * prm(3u) + g.x;
    let width = prm(1u);
    let base = row * width;
    var s = 0.0;
    if (row < prm(0u)) {{
        for (var j = l.x; j < width; j += {WG}u) {{ let v = x[base + j]; s += v * v; }}
    }}
    red[l.x] = s;
    workgroupBarrier();
    for (var k = {WG}u / 2u; k > 0u; k >>= 1u) {{
        if (l.x < k) {{ red[l.x] += red[l.x + k]; }}
        workgroupBarrier();
    }}
    if (row < prm(0u)) {{
        let scale = 1.0 / sqrt(red[0] / f32(width) + prmf(2u));
        for (var j = l.x; j < width; j += {WG}u) {{ o[base + j] = x[base + j] * scale * wt[j]; }}
    }}
}}
"#,
        uni = uniform(3)
    )
}

/// RoPE from a host-computed table of `(cos, sin)` per token and pair: one thread per token,
/// head and pair. Params: total threads, row width, head_dim, pairs (dim / 2), neox (0/1),
/// grid_x (word 15).
pub fn rope() -> String {
    format!(
        r#"
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> cs: array<f32>;
{uni}
@compute @workgroup_size({EW})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {{
    let i = (g.y * prm(15u) + g.x) * {EW}u + l.x;
    if (i >= prm(0u)) {{ return; }}
    let width = prm(1u);
    let hd = prm(2u);
    let half = prm(3u);
    let heads = width / hd;
    let p = i % half;
    let h = (i / half) % heads;
    let t = i / (half * heads);
    let c = cs[2u * (t * half + p)];
    let s = cs[2u * (t * half + p) + 1u];
    var a: u32;
    var b: u32;
    if (prm(4u) != 0u) {{ a = p; b = p + half; }} else {{ a = 2u * p; b = 2u * p + 1u; }}
    let base = t * width + h * hd;
    let x0 = x[base + a];
    let x1 = x[base + b];
    x[base + a] = x0 * c - x1 * s;
    x[base + b] = x0 * s + x1 * c;
}}
"#,
        uni = uniform(2)
    )
}

/// Store f32 rows as packed f16 pairs at positions `start..`: params: pairs total, pairs per
/// row, start, grid_x (word 15).
pub fn kv_store() -> String {
    format!(
        r#"
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
{uni}
@compute @workgroup_size({EW})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {{
    let i = (g.y * prm(15u) + g.x) * {EW}u + l.x;
    if (i >= prm(0u)) {{ return; }}
    dst[prm(2u) * prm(1u) + i] = pack2x16float(vec2<f32>(src[2u * i], src[2u * i + 1u]));
}}
"#,
        uni = uniform(2)
    )
}

/// Words of one Q8_0 block in the device cache: the f16 scale (low half of word 0), then 32
/// signed bytes in 8 words.
pub const Q8_WORDS: usize = 9;

/// Store f32 rows as Q8_0 blocks at positions `start..`, quantized as the CPU's paged cache
/// does (`amax / 127`, round half away from zero, f16 scale): one thread per block. Params:
/// blocks total, blocks per row, start, grid_x (word 15).
pub fn kv_store_q8() -> String {
    format!(
        r#"
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
{uni}
{F16_BITS}
@compute @workgroup_size({EW})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {{
    let i = (g.y * prm(15u) + g.x) * {EW}u + l.x;
    if (i >= prm(0u)) {{ return; }}
    var amax = 0.0;
    for (var e = 0u; e < 32u; e++) {{ amax = max(amax, abs(src[32u * i + e])); }}
    let scale = amax / 127.0;
    var inv = 0.0;
    if (scale > 0.0) {{ inv = 1.0 / scale; }}
    let o = (prm(2u) * prm(1u) + i) * {Q8_WORDS}u;
    dst[o] = f32_to_f16(scale);
    for (var w = 0u; w < 8u; w++) {{
        var word = 0u;
        for (var b = 0u; b < 4u; b++) {{
            let v = src[32u * i + 4u * w + b] * inv;
            // Half away from zero, as Rust's round().
            let t = trunc(v);
            let q = clamp(t + select(0.0, sign(v), abs(v - t) >= 0.5), -127.0, 127.0);
            word |= (u32(i32(q)) & 0xffu) << (8u * b);
        }}
        dst[o + 1u + w] = word;
    }}
}}
"#,
        uni = uniform(2)
    )
}

/// The pipeline name of the attention kernel for K and V stored as Q8_0 (`true`) or F16.
pub fn attention_key(k_q8: bool, v_q8: bool) -> String {
    let t = |q| if q { "q8" } else { "f16" };
    format!("attention_{}_{}", t(k_q8), t(v_q8))
}

/// Reads element `o` of cache `buf` (F16 pairs, or Q8_0 blocks of [`Q8_WORDS`] words).
fn cache_reader(name: &str, buf: &str, q8: bool) -> String {
    if q8 {
        format!(
            "fn {name}(o: u32) -> f32 {{ let w = (o / 32u) * {Q8_WORDS}u; let e = o % 32u; \
             let q = (i32({buf}[w + 1u + e / 4u] >> (8u * (e % 4u))) << 24u) >> 24u; \
             return f32(q) * f16_to_f32({buf}[w] & 0xffffu); }}\n"
        )
    } else {
        format!(
            "fn {name}(o: u32) -> f32 {{ let p = unpack2x16float({buf}[o / 2u]); \
             if ((o & 1u) == 0u) {{ return p.x; }} return p.y; }}\n"
        )
    }
}

/// Flash attention (tiled, online softmax, no score matrix): one work-group per (query head,
/// token); keys in tiles of `WG`, one per thread; each thread owns output dims `l, l + WG, …`.
/// K and V are packed f16 pairs or Q8_0 blocks. Params: n_head, n_head_kv, head_dim,
/// head_dim_v, start, scale (f32), softcap (f32, 0 = none), window (0 = none), K and V row
/// widths in values / 2.
pub fn attention(k_q8: bool, v_q8: bool) -> String {
    format!(
        r#"
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kc: array<u32>;
@group(0) @binding(2) var<storage, read> vc: array<u32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
{uni}
{F16_BITS}
const WG: u32 = {WG}u;
const DV: u32 = 256u / {WG}u;
var<workgroup> red: array<f32, {WG}>;
var<workgroup> pr: array<f32, {WG}>;

{kval}{vval}
@compute @workgroup_size({WG})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {{
    let h = g.x;
    let t = g.y;
    let n_head = prm(0u);
    let hd = prm(2u);
    let hdv = prm(3u);
    let pos = prm(4u) + t;
    let kvh = h / (n_head / prm(1u));
    let scale = prmf(5u);
    let cap = prmf(6u);
    let window = prm(7u);
    let krow = 2u * prm(8u);
    let vrow = 2u * prm(9u);
    var first = 0u;
    if (window != 0u && pos + 1u > window) {{ first = pos + 1u - window; }}
    let qb = (t * n_head + h) * hd;
    var m = -3.0e38;
    var lsum = 0.0;
    var acc: array<f32, DV>;
    for (var tile = first; tile <= pos; tile += WG) {{
        let j = tile + l.x;
        var s = -3.0e38;
        if (j <= pos) {{
            let kb = j * krow + kvh * hd;
            var dot = 0.0;
            for (var e = 0u; e < hd; e++) {{ dot += q[qb + e] * kval(kb + e); }}
            s = dot * scale;
            if (cap != 0.0) {{ s = cap * tanh(clamp(s / cap, -15.0, 15.0)); }}
        }}
        red[l.x] = s;
        workgroupBarrier();
        for (var k = WG / 2u; k > 0u; k >>= 1u) {{
            if (l.x < k) {{ red[l.x] = max(red[l.x], red[l.x + k]); }}
            workgroupBarrier();
        }}
        let mnew = max(m, red[0]);
        workgroupBarrier();
        var p = 0.0;
        if (j <= pos) {{ p = exp(s - mnew); }}
        pr[l.x] = p;
        red[l.x] = p;
        workgroupBarrier();
        for (var k = WG / 2u; k > 0u; k >>= 1u) {{
            if (l.x < k) {{ red[l.x] += red[l.x + k]; }}
            workgroupBarrier();
        }}
        let corr = exp(m - mnew);
        lsum = lsum * corr + red[0];
        let count = min(WG, pos + 1u - tile);
        for (var di = 0u; di < DV; di++) {{
            let dcol = l.x + di * WG;
            if (dcol < hdv) {{
                var a = acc[di] * corr;
                for (var jj = 0u; jj < count; jj++) {{
                    a += pr[jj] * vval((tile + jj) * vrow + kvh * hdv + dcol);
                }}
                acc[di] = a;
            }}
        }}
        m = mnew;
        workgroupBarrier();
    }}
    let ob = (t * n_head + h) * hdv;
    for (var di = 0u; di < DV; di++) {{
        let dcol = l.x + di * WG;
        if (dcol < hdv) {{ o[ob + dcol] = acc[di] / lsum; }}
    }}
}}
"#,
        uni = uniform(4),
        kval = cache_reader("kval", "kc", k_q8),
        vval = cache_reader("vval", "vc", v_q8),
    )
}
