//! The lattices the grid i-quants quantize onto (what ggml's `iq2xs_init_impl` and
//! `iq3xs_init_impl` build): every grid point's odd coordinates `2l + 1`, the map from a group's
//! packed levels to its grid index, and for each packed point that is not on the grid the list
//! of grid points the quantizer searches instead. Built once per type, on first use, from the
//! dequantization grids in [`crate::iq_tables`] (grid index k there is ggml's `kgrid[k]`).
//!
//! The neighbour list of an off-grid point holds every grid point whose squared distance is one
//! of the `nwant` smallest distances, ordered by (distance, index) — ggml's `qsort` order, which
//! decides the ties of the weighted search. Lists are built only for points whose levels are
//! within the quantizers' clamp (`0..=max_level`); ggml also builds unused lists for level 3 of
//! the 2-bit grids.

use std::sync::Mutex;

use crate::iq_tables::{IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID};

/// A grid of `D`-element groups, `bits` per packed level.
pub(crate) struct Lattice<const D: usize> {
    /// Odd coordinates `2l + 1` of each grid point (ggml's `kgrid_q2xs` / `kgrid_q3xs` bytes).
    pub points: Vec<[i8; D]>,
    bits: u32,
    max_level: i8,
    /// Packed levels → grid index (≥ 0), or `-(offset + 1)` of the point's neighbour list in
    /// `neighbours` (its length first, then grid indices).
    map: Vec<i32>,
    neighbours: Vec<u16>,
}

/// Where a group of levels lands: on a grid point, or between points (its neighbour list).
pub(crate) enum Lookup<'a> {
    OnGrid(usize),
    Off(&'a [u16]),
}

impl<const D: usize> Lattice<D> {
    fn build(points: Vec<[i8; D]>, bits: u32, max_level: i8, nwant: usize) -> Self {
        let size = 1usize << (bits as usize * D);
        let mut map = vec![i32::MIN; size];
        for (i, p) in points.iter().enumerate() {
            let levels: [i8; D] = core::array::from_fn(|k| (p[k] - 1) / 2);
            map[pack(&levels, bits)] = i as i32;
        }
        let mut neighbours = Vec::new();
        let mut dist = vec![0u16; points.len()];
        for (u, slot) in map.iter_mut().enumerate() {
            if *slot >= 0 {
                continue;
            }
            let levels: [i8; D] =
                core::array::from_fn(|k| ((u >> (bits as usize * k)) & ((1 << bits) - 1)) as i8);
            if levels.iter().any(|&l| l > max_level) {
                continue;
            }
            for (d, p) in dist.iter_mut().zip(&points) {
                let mut d2 = 0i32;
                for k in 0..D {
                    let diff = (p[k] - (2 * levels[k] + 1)) as i32;
                    d2 += diff * diff;
                }
                *d = d2 as u16;
            }
            // The nwant smallest distinct distances, each with its points in index order.
            let start = neighbours.len();
            neighbours.push(0);
            let mut above = None::<u16>;
            for _ in 0..nwant {
                let next = dist
                    .iter()
                    .copied()
                    .filter(|&d| above.map_or(true, |a| d > a))
                    .min();
                let level = match next {
                    Some(level) => level,
                    None => break,
                };
                for (j, &d) in dist.iter().enumerate() {
                    if d == level {
                        neighbours.push(j as u16);
                    }
                }
                above = Some(level);
            }
            neighbours[start] = (neighbours.len() - start - 1) as u16;
            *slot = -(start as i32 + 1);
        }
        Lattice {
            points,
            bits,
            max_level,
            map,
            neighbours,
        }
    }

    /// The grid point or neighbour list of a group of levels (each clamped to the lattice's
    /// level range, as every caller already does).
    pub fn lookup(&self, levels: &[i8]) -> Lookup<'_> {
        let mut l = [0i8; D];
        for (o, &v) in l.iter_mut().zip(levels) {
            *o = v.clamp(0, self.max_level);
        }
        match self.map[pack(&l, self.bits)] {
            i if i >= 0 => Lookup::OnGrid(i as usize),
            i => {
                let start = (-(i + 1)) as usize;
                let n = self.neighbours[start] as usize;
                Lookup::Off(&self.neighbours[start + 1..start + 1 + n])
            }
        }
    }

    /// The levels `(coordinate − 1) / 2` of grid point `index`.
    pub fn levels(&self, index: usize, out: &mut [i8]) {
        for (o, &p) in out.iter_mut().zip(&self.points[index]) {
            *o = (p - 1) / 2;
        }
    }

    /// The neighbour nearest to `xval` at `scale` under `weight`: `Σ w·(scale·value(p) − x)²`
    /// over a point's coordinates `p`, first of equals wins (ggml's `iq2_find_best_neighbour`
    /// and `iq3_find_best_neighbour` with `value(p) = p`, `iq1_find_best_neighbour2` with the
    /// shifted level values). Its levels go to `levels`. With NaN everywhere (where ggml
    /// aborts) the first neighbour is taken.
    pub fn best_neighbour(
        &self,
        list: &[u16],
        xval: &[f32],
        weight: &[f32],
        scale: f32,
        value: impl Fn(i8) -> f32,
        levels: &mut [i8],
    ) -> usize {
        let mut best_d2 = f32::MAX;
        let mut best = list[0] as usize;
        for &j in list {
            let p = &self.points[j as usize];
            let mut d2 = 0.0f32;
            for i in 0..D {
                let diff = scale * value(p[i]) - xval[i];
                d2 += weight[i] * diff * diff;
            }
            if d2 < best_d2 {
                best_d2 = d2;
                best = j as usize;
            }
        }
        self.levels(best, levels);
        best
    }
}

/// Levels packed `bits` per coordinate, coordinate 0 lowest (ggml's `u |= l << bits·i`).
fn pack(levels: &[i8], bits: u32) -> usize {
    let mut u = 0usize;
    for (k, &l) in levels.iter().enumerate() {
        u |= (l as usize) << (bits as usize * k);
    }
    u
}

/// The 8-element grids' coordinates from the dequantization tables' magnitudes.
fn points8(grid: &[u64], level_of: fn(u8) -> i8) -> Vec<[i8; 8]> {
    grid.iter()
        .map(|g| {
            let b = g.to_le_bytes();
            core::array::from_fn(|k| 2 * level_of(b[k]) + 1)
        })
        .collect()
}

fn points4(grid: &[u32], level_of: fn(u8) -> i8) -> Vec<[i8; 4]> {
    grid.iter()
        .map(|g| {
            let b = g.to_le_bytes();
            core::array::from_fn(|k| 2 * level_of(b[k]) + 1)
        })
        .collect()
}

/// IQ2 magnitudes 8, 25, 43 are levels 0, 1, 2.
fn iq2_level(v: u8) -> i8 {
    match v {
        8 => 0,
        25 => 1,
        43 => 2,
        _ => unreachable!("IQ2 grids hold only 8, 25 and 43"),
    }
}

/// The lattice in `slot`, built by `build` the first time it is asked for.
fn cached<const D: usize>(
    slot: &'static Mutex<Option<&'static Lattice<D>>>,
    build: fn() -> Lattice<D>,
) -> &'static Lattice<D> {
    let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
    guard.get_or_insert_with(|| Box::leak(Box::new(build())))
}

/// IQ2_XXS: 256 points, neighbours at the 2 nearest distances.
pub(crate) fn iq2_xxs() -> &'static Lattice<8> {
    static SLOT: Mutex<Option<&'static Lattice<8>>> = Mutex::new(None);
    cached(&SLOT, || {
        Lattice::build(points8(&IQ2XXS_GRID, iq2_level), 2, 2, 2)
    })
}

/// IQ2_XS: 512 points, 2 distances.
pub(crate) fn iq2_xs() -> &'static Lattice<8> {
    static SLOT: Mutex<Option<&'static Lattice<8>>> = Mutex::new(None);
    cached(&SLOT, || {
        Lattice::build(points8(&IQ2XS_GRID, iq2_level), 2, 2, 2)
    })
}

/// IQ2_S: 1024 points, 1 distance.
pub(crate) fn iq2_s() -> &'static Lattice<8> {
    static SLOT: Mutex<Option<&'static Lattice<8>>> = Mutex::new(None);
    cached(&SLOT, || {
        Lattice::build(points8(&IQ2S_GRID, iq2_level), 2, 2, 1)
    })
}

/// IQ1_S and IQ1_M: 2048 points of −1/0/+1 (levels 0, 1, 2), 3 distances.
pub(crate) fn iq1() -> &'static Lattice<8> {
    static SLOT: Mutex<Option<&'static Lattice<8>>> = Mutex::new(None);
    cached(&SLOT, || {
        Lattice::build(points8(&IQ1S_GRID, |v| v as i8 + 1), 2, 2, 3)
    })
}

/// IQ3_XXS: 256 points of magnitudes 4, 12, … 52, 62 (levels 0..8), 2 distances.
pub(crate) fn iq3_xxs() -> &'static Lattice<4> {
    static SLOT: Mutex<Option<&'static Lattice<4>>> = Mutex::new(None);
    cached(&SLOT, || {
        Lattice::build(points4(&IQ3XXS_GRID, |v| ((v - 4) / 8) as i8), 3, 7, 2)
    })
}

/// IQ3_S: 512 points of magnitudes 1, 3, … 15 (levels 0..8), 3 distances.
pub(crate) fn iq3_s() -> &'static Lattice<4> {
    static SLOT: Mutex<Option<&'static Lattice<4>>> = Mutex::new(None);
    cached(&SLOT, || {
        Lattice::build(points4(&IQ3S_GRID, |v| ((v - 1) / 2) as i8), 3, 7, 3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ggml's compressed grids start 0, 2, 5, 8, 10, 17 (2-bit), 0, 2, 4, 9, 11 (IQ3_XXS) and
    /// 0, 1, 2, 5, 7 (IQ3_S): the levels recovered from the dequantization tables pack to them.
    #[test]
    fn grid_points_pack_to_ggml_kgrid_values() {
        let packed8 = |l: &Lattice<8>, i: usize| {
            let mut v = [0i8; 8];
            l.levels(i, &mut v);
            pack(&v, 2)
        };
        let packed4 = |l: &Lattice<4>, i: usize| {
            let mut v = [0i8; 4];
            l.levels(i, &mut v);
            pack(&v, 3)
        };
        let first8 = |l: &Lattice<8>| (0..6).map(|i| packed8(l, i)).collect::<Vec<_>>();
        assert_eq!(first8(iq2_xxs()), [0, 2, 5, 8, 10, 17]);
        assert_eq!(first8(iq2_s()), [0, 2, 5, 8, 10, 17]);
        assert_eq!(first8(iq1()), [0, 2, 5, 8, 10, 17]);
        let first4 = |l: &Lattice<4>| (0..5).map(|i| packed4(l, i)).collect::<Vec<_>>();
        assert_eq!(first4(iq3_xxs()), [0, 2, 4, 9, 11]);
        assert_eq!(first4(iq3_s()), [0, 1, 2, 5, 7]);
    }

    #[test]
    fn off_grid_points_list_their_nearest_grid_points() {
        let lat = iq2_xs();
        let mut seen_off = 0;
        for u in 0..3usize.pow(8) {
            let levels: [i8; 8] = core::array::from_fn(|k| ((u / 3usize.pow(k as u32)) % 3) as i8);
            match lat.lookup(&levels) {
                Lookup::OnGrid(i) => {
                    let mut l = [0i8; 8];
                    lat.levels(i, &mut l);
                    assert_eq!(l, levels);
                }
                Lookup::Off(list) => {
                    seen_off += 1;
                    assert!(!list.is_empty());
                    let d2 = |j: u16| {
                        let p = &lat.points[j as usize];
                        (0..8)
                            .map(|k| ((p[k] - (2 * levels[k] + 1)) as i32).pow(2))
                            .sum::<i32>()
                    };
                    let nearest = (0..lat.points.len() as u16).map(d2).min().unwrap();
                    assert_eq!(d2(list[0]), nearest);
                    assert!(list.windows(2).all(|w| (d2(w[0]), w[0]) < (d2(w[1]), w[1])));
                }
            }
        }
        assert!(seen_off > 0);
    }
}
