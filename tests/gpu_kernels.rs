//! Every WGSL kernel against the CPU: the matmul of each weight type against the scalar
//! dequantizer (f64 dots), the other verbs against the CPU backend's, attention over the device
//! KV against the CPU's paged cache — on random and edge inputs (odd sizes, rows not a multiple
//! of the work-group, token counts across the tile, extreme scales, weights split across
//! bindings). Skips with a message where no GPU adapter exists (CI installs llvmpipe). Every
//! shader is also translated by naga to MSL and HLSL.
#![cfg(feature = "wgpu")]
use brisk::attn::flash::PagedSeqCache;
use brisk::attn::paged::{KvType, KvTypes};
use brisk::attn::KvStore;
use brisk::backend::gpu::{self, Gpu};
use brisk::backend::rope::{Rope, RopeSpec, RopeStyle};
use brisk::backend::{Attention, AttnShape, Backend, Cpu, Glu, QTensor};
use brisk::format::TensorBytes;
use brisk_kernels::{scalar, QuantType};
use std::sync::{Arc, OnceLock};

fn device() -> Option<&'static Gpu> {
    static GPU: OnceLock<Option<Gpu>> = OnceLock::new();
    let g = GPU.get_or_init(|| match gpu::open(None) {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("skipping GPU kernel tests: {e}");
            None
        }
    });
    g.as_ref()
}

fn cpu() -> Cpu {
    Cpu::new(2, brisk_kernels::requested().expect("a kernel table")).expect("threads")
}

/// A deterministic xorshift stream of floats in [-1, 1).
struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.f() * scale).collect()
    }
}

fn matrix(ty: QuantType, rows: usize, cols: usize, rng: &mut Rng, scale: f32) -> QTensor {
    let rb = ty.row_bytes(cols).expect("whole blocks");
    let mut bytes = vec![0u8; rows * rb];
    for r in 0..rows {
        let v = rng.vec(cols, scale);
        let imp = vec![1.0f32; cols];
        scalar::weighted::quantize_row_weighted(
            ty,
            &v,
            Some(&imp),
            &mut bytes[r * rb..(r + 1) * rb],
        );
    }
    QTensor {
        name: "w".into(),
        ty,
        rows,
        cols,
        bytes: TensorBytes::Owned(Arc::new(bytes)),
        packed: None,
    }
}

/// `max |gpu − ref|` over `Σ|w||x|` of each output.
fn check_matmul(g: &Gpu, w: &QTensor, n: usize, rng: &mut Rng, xscale: f32, tol: f64) {
    let x = rng.vec(n * w.cols, xscale);
    let gw = g.upload_weight(w).expect("upload");
    let mut gx = g.act(0);
    g.write(&mut gx, &x);
    let mut gy = g.act(0);
    g.matmul(&gw, &gx, n, &mut gy);
    let got = g.read(&gy);
    assert_eq!(got.len(), n * w.rows);
    let mut row = vec![0f32; w.cols];
    for r in 0..w.rows {
        scalar::dequantize_row(w.ty, w.row(r), &mut row);
        if gw.ty == QuantType::F16 && w.ty != QuantType::F16 && w.ty != QuantType::BF16 {
            for v in row.iter_mut() {
                *v = half::f16::from_f32(*v).to_f32();
            }
        }
        for t in 0..n {
            let xt = &x[t * w.cols..(t + 1) * w.cols];
            let want: f64 = row.iter().zip(xt).map(|(&a, &b)| a as f64 * b as f64).sum();
            let mag: f64 = row
                .iter()
                .zip(xt)
                .map(|(&a, &b)| (a as f64 * b as f64).abs())
                .sum();
            let diff = (got[t * w.rows + r] as f64 - want).abs();
            assert!(
                diff <= tol * mag.max(1e-30),
                "{} {}x{} n={n} row {r} token {t}: gpu {} want {want} (|Σ| {mag})",
                w.ty.name(),
                w.rows,
                w.cols,
                got[t * w.rows + r]
            );
        }
    }
}

#[test]
fn matmul_of_every_weight_type_matches_the_scalar_dequantizer() {
    let Some(g) = device() else { return };
    let mut rng = Rng(0x9e3779b97f4a7c15);
    for ty in QuantType::weights() {
        let bl = ty.block_len().max(32);
        for (rows, cols, n) in [(1, bl, 1), (67, 2 * bl, 3), (5, bl, 9), (130, bl, 17)] {
            let cols = cols.max(256.min(bl * 8));
            let w = matrix(ty, rows, cols, &mut rng, 1.0);
            check_matmul(g, &w, n, &mut rng, 1.0, 1e-5);
        }
    }
}

#[test]
fn float_matmuls_take_odd_widths_and_extreme_scales() {
    let Some(g) = device() else { return };
    let mut rng = Rng(7);
    for ty in [QuantType::F32, QuantType::F16, QuantType::BF16] {
        for (rows, cols, n) in [(3, 1, 1), (65, 45, 2), (9, 97, 8), (2, 300, 11)] {
            let w = matrix(ty, rows, cols, &mut rng, 1.0);
            check_matmul(g, &w, n, &mut rng, 1.0, 1e-5);
        }
        let w = matrix(ty, 4, 64, &mut rng, 1e-4);
        check_matmul(g, &w, 2, &mut rng, 1e3, 1e-5);
    }
    for ty in [QuantType::Q4_K, QuantType::Q8_0, QuantType::Q6_K] {
        let w = matrix(ty, 6, 256, &mut rng, 1e3);
        check_matmul(g, &w, 3, &mut rng, 1e-3, 1e-5);
    }
    // Block scales below f16's normal range (subnormal d): decoded, not flushed to zero.
    for ty in [
        QuantType::Q8_0,
        QuantType::Q4_0,
        QuantType::Q4_K,
        QuantType::Q6_K,
    ] {
        let w = matrix(ty, 4, 256, &mut rng, 1e-3);
        check_matmul(g, &w, 2, &mut rng, 1.0, 1e-5);
    }
    // Rows wide enough for every thread count (64 threads per row, chunks past a power of two).
    for (ty, cols) in [
        (QuantType::Q4_0, 4096),
        (QuantType::Q4_K, 2304),
        (QuantType::F16, 1056),
    ] {
        let w = matrix(ty, 5, cols, &mut rng, 1.0);
        check_matmul(g, &w, 2, &mut rng, 1.0, 1e-5);
    }
}

#[test]
fn weights_split_across_bindings_write_every_row() {
    let Some(g) = device() else { return };
    let mut rng = Rng(11);
    let w = matrix(QuantType::Q4_0, 37, 64, &mut rng, 1.0);
    g.cap_binding_for_tests(36 * 5);
    let gw = g.upload_weight(&w);
    g.cap_binding_for_tests(0);
    let gw = gw.expect("upload");
    assert_eq!(gw.rows, 37);
    let x = rng.vec(2 * 64, 1.0);
    let mut gx = g.act(0);
    g.write(&mut gx, &x);
    let mut gy = g.act(0);
    g.matmul(&gw, &gx, 2, &mut gy);
    let got = g.read(&gy);
    let c = cpu();
    let mut want = vec![0f32; 2 * 37];
    c.matmul(&w, &x, 2, &mut want);
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!(
            (a - b).abs() < 0.05 * (1.0 + b.abs()),
            "output {i}: {a} vs {b}"
        );
    }
}

fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}[{i}]: gpu {a}, cpu {b}"
        );
    }
}

/// Runs `f` on both backends over the same uploaded inputs and compares the first output.
fn both<F, G>(what: &str, inputs: &[Vec<f32>], tol: f32, f_cpu: F, f_gpu: G)
where
    F: Fn(&Cpu, &mut [Vec<f32>]),
    G: Fn(&Gpu, &mut [gpu::GpuBuf]),
{
    let Some(g) = device() else { return };
    let c = cpu();
    let mut hc: Vec<Vec<f32>> = inputs.to_vec();
    f_cpu(&c, &mut hc);
    let mut gb: Vec<gpu::GpuBuf> = inputs
        .iter()
        .map(|v| {
            let mut b = g.act(0);
            g.write(&mut b, v);
            b
        })
        .collect();
    f_gpu(g, &mut gb);
    close(what, &g.read(&gb[0]), &hc[0], tol);
}

#[test]
fn element_wise_verbs_match_the_cpu() {
    let mut rng = Rng(3);
    for len in [1usize, 255, 256, 257, 70_001] {
        let (a, b, c) = (rng.vec(len, 4.0), rng.vec(len, 4.0), rng.vec(len, 4.0));
        both(
            "add",
            &[a.clone(), b.clone()],
            1e-6,
            |be, v| {
                let (x, y) = v.split_at_mut(1);
                be.add(&mut x[0], &y[0]);
            },
            |be, v| {
                let (x, y) = v.split_at_mut(1);
                be.add(&mut x[0], &y[0]);
            },
        );
        both(
            "scale",
            std::slice::from_ref(&a),
            1e-6,
            |be, v| be.scale(&mut v[0], -3.5),
            |be, v| be.scale(&mut v[0], -3.5),
        );
        both(
            "softcap",
            &[rng.vec(len, 80.0)],
            1e-5,
            |be, v| be.softcap(&mut v[0], 30.0),
            |be, v| be.softcap(&mut v[0], 30.0),
        );
        for act in [Glu::Silu, Glu::GeluTanh] {
            both(
                "glu",
                &[c.clone(), rng.vec(len, 30.0), b.clone()],
                1e-5,
                |be, v| {
                    let (o, gu) = v.split_at_mut(1);
                    be.glu(act, &gu[0], &gu[1], &mut o[0]);
                },
                |be, v| {
                    let (o, gu) = v.split_at_mut(1);
                    be.glu(act, &gu[0], &gu[1], &mut o[0]);
                },
            );
        }
    }
}

#[test]
fn norms_biases_and_row_moves_match_the_cpu() {
    let mut rng = Rng(5);
    for (rows, width) in [(1usize, 1usize), (3, 64), (7, 896), (2, 2049)] {
        let x = rng.vec(rows * width, 10.0);
        let w = rng.vec(width, 2.0);
        both(
            "rms_norm",
            &[vec![], x.clone(), w.clone()],
            1e-5,
            |be, v| {
                let (o, i) = v.split_at_mut(1);
                be.rms_norm(&i[0], width, &i[1], 1e-6, &mut o[0]);
            },
            |be, v| {
                let (o, i) = v.split_at_mut(1);
                be.rms_norm(&i[0], width, &i[1], 1e-6, &mut o[0]);
            },
        );
        both(
            "add_bias",
            &[x.clone(), w.clone()],
            1e-6,
            |be, v| {
                let (a, b) = v.split_at_mut(1);
                be.add_bias(&mut a[0], &b[0]);
            },
            |be, v| {
                let (a, b) = v.split_at_mut(1);
                be.add_bias(&mut a[0], &b[0]);
            },
        );
        let pick: Vec<usize> = (0..rows).rev().chain([0]).collect();
        both(
            "gather_rows",
            &[vec![], x.clone()],
            0.0,
            |be, v| {
                let (o, i) = v.split_at_mut(1);
                be.gather_rows(&i[0], width, &pick, &mut o[0]);
            },
            |be, v| {
                let (o, i) = v.split_at_mut(1);
                be.gather_rows(&i[0], width, &pick, &mut o[0]);
            },
        );
        let to: Vec<(usize, f32)> = (0..rows)
            .map(|r| ((r * 3) % rows, 0.25 + r as f32))
            .collect();
        let y = rng.vec(rows * width, 1.0);
        if rows == 3 || rows == 1 {
            both(
                "add_rows_scaled",
                &[x.clone(), y.clone()],
                1e-6,
                |be, v| {
                    let (o, i) = v.split_at_mut(1);
                    be.add_rows_scaled(&mut o[0], width, &i[0], &to);
                },
                |be, v| {
                    let (o, i) = v.split_at_mut(1);
                    be.add_rows_scaled(&mut o[0], width, &i[0], &to);
                },
            );
        }
    }
}

#[test]
fn rope_matches_the_cpu_in_both_styles() {
    let mut rng = Rng(9);
    for (style, dim, head_dim, heads, n, start) in [
        (RopeStyle::Adjacent, 64, 64, 4, 3, 0),
        (RopeStyle::NeoX, 128, 128, 2, 5, 1000),
        (RopeStyle::NeoX, 32, 64, 3, 1, 31_999),
        (RopeStyle::Adjacent, 16, 256, 1, 2, 7),
    ] {
        let rope = Rope::new(&RopeSpec::plain(style, dim, 10000.0));
        let width = heads * head_dim;
        let x = rng.vec(n * width, 3.0);
        both(
            "rope",
            &[x],
            2e-5,
            |be, v| be.rope(&rope, &mut v[0], width, head_dim, start),
            |be, v| be.rope(&rope, &mut v[0], width, head_dim, start),
        );
    }
}

#[test]
fn attention_over_the_device_cache_matches_the_paged_cpu_cache() {
    let Some(g) = device() else { return };
    let c = cpu();
    let mut rng = Rng(13);
    // (heads, kv heads, head_dim, head_dim_v, window, softcap, batches)
    let shapes = [
        (
            4usize,
            4usize,
            64usize,
            64usize,
            None,
            None,
            vec![5usize, 1, 1],
        ),
        (8, 2, 128, 128, None, None, vec![70, 3, 1]),
        (4, 1, 256, 256, Some(40), Some(50.0f32), vec![90, 1, 20]),
        (2, 2, 32, 16, None, None, vec![1, 1, 130]),
    ];
    let all_types = [
        (KvType::F16, KvType::F16),
        (KvType::Q8_0, KvType::Q8_0),
        (KvType::F16, KvType::Q8_0),
        (KvType::Q8_0, KvType::F16),
    ];
    for (nh, nkv, hd, hdv, window, softcap, batches) in shapes {
        for (kt, vt) in all_types {
            if (kt == KvType::Q8_0 && hd % 32 != 0) || (vt == KvType::Q8_0 && hdv % 32 != 0) {
                continue;
            }
            let n_ctx = 256;
            let types = KvTypes { k: kt, v: vt };
            let mut host = PagedSeqCache::new(n_ctx, 1, nkv, hd, hdv, types).expect("cache");
            let q8 = (kt == KvType::Q8_0, vt == KvType::Q8_0);
            let mut dev = g
                .new_kv(n_ctx, 0, 1, (nkv * hd, hd), nkv * hdv, q8)
                .expect("device cache");
            let shape = AttnShape {
                window,
                softcap,
                ..AttnShape::causal(nh, nkv, hd, hdv)
            };
            let mut start = 0;
            for &n in &batches {
                let q = rng.vec(n * nh * hd, 2.0);
                let k = rng.vec(n * nkv * hd, 2.0);
                let v = rng.vec(n * nkv * hdv, 2.0);
                let kv: &mut dyn KvStore = &mut host;
                c.kv_store(kv, 0, start, n, &k, &v);
                let mut want = Vec::new();
                c.attend(kv, 0, shape, &q, start, &mut want);
                kv.kv_advance(n).expect("fits");
                let up = |h: &[f32]| {
                    let mut b = g.act(0);
                    g.write(&mut b, h);
                    b
                };
                let (gq, gk, gv) = (up(&q), up(&k), up(&v));
                g.kv_store(&mut dev, 0, start, n, &gk, &gv);
                let mut out = g.act(0);
                g.attend(&dev, 0, shape, &gq, start, &mut out);
                let what = format!("attention {kt:?}/{vt:?} {nh}/{nkv}x{hd} at {start}+{n}");
                close(&what, &g.read(&out), &want, 2e-3);
                start += n;
            }
        }
    }
}

#[test]
fn every_shader_validates_and_translates_to_metal_and_hlsl() {
    for (name, src) in gpu::kernels_wgsl::all() {
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&src)));
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32,
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let pipeline = naga::back::msl::PipelineOptions::default();
        naga::back::msl::write_string(&module, &info, &Default::default(), &pipeline)
            .unwrap_or_else(|e| panic!("{name} to MSL: {e}"));
        let mut hlsl = String::new();
        let options = naga::back::hlsl::Options::default();
        let pipeline = naga::back::hlsl::PipelineOptions::default();
        let mut w = naga::back::hlsl::Writer::new(&mut hlsl, &options, &pipeline);
        w.write(&module, &info, None)
            .unwrap_or_else(|e| panic!("{name} to HLSL: {e}"));
    }
}

#[test]
fn q8_0_kv_store_quantizes_as_the_cpu_tiny_blocks_included() {
    let Some(g) = device() else { return };
    let mut rng = Rng(17);
    let (width, n) = (64usize, 4usize);
    let mut dev = g
        .new_kv(8, 0, 1, (width, 32), width, (true, true))
        .expect("device cache");
    // Row t scaled by 10^-t: the last row's block scales (~8e-6) are f16 subnormals.
    let rows: Vec<f32> = (0..n)
        .flat_map(|t| rng.vec(width, 10f32.powi(-(t as i32))))
        .collect();
    let mut b = g.act(0);
    g.write(&mut b, &rows);
    g.kv_store(&mut dev, 0, 0, n, &b, &b);
    let got = g.read_cache(&dev.buffers()[0].0, n * width, true);
    for (bi, (block, out)) in rows.chunks_exact(32).zip(got.chunks_exact(32)).enumerate() {
        let amax = block.iter().fold(0f32, |m, x| m.max(x.abs()));
        let d = half::f16::from_f32(amax / 127.0).to_f32();
        assert!(d > 0.0, "block {bi}: scale rounds to zero");
        let inv = 1.0 / (amax / 127.0);
        for (i, (&x, &y)) in block.iter().zip(out).enumerate() {
            let want = (x * inv).round().clamp(-127.0, 127.0) * d;
            // One quantum of slack: WGSL's reciprocal may differ in the last bits.
            assert!(
                (y - want).abs() <= d * 1.001,
                "block {bi}[{i}]: {y} vs {want}"
            );
            assert!(y == 0.0 || y.signum() == x.signum(), "block {bi}[{i}]");
        }
    }
}
