//! Seeded synthetic updates built like the reference vectors' datasets, for benchmarks and
//! tests: n − f honest rows μ + N(0, 0.5²) and f Byzantine rows 20·N(0, 1), μ ~ N(0, 1).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// A synthetic round: an n×d row-major matrix and the side inputs some rules take.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// Row-major n×d values.
    pub data: Vec<f32>,
    /// Rows.
    pub n: usize,
    /// Row length.
    pub d: usize,
    /// Indices of the Byzantine rows (the last f).
    pub byzantine: Vec<usize>,
    /// A server update μ + N(0, 0.25²) for FLTrust.
    pub server_update: Vec<f64>,
    /// Sample counts for FedAvg, in 10..100.
    pub sample_counts: Vec<f64>,
}

impl Synthetic {
    /// Rows as slices.
    pub fn rows(&self) -> Vec<&[f32]> {
        self.data.chunks(self.d).collect()
    }
}

fn normals(seed: u64, stream: u64, len: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    (0..len)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect()
}

/// Builds the round from a seed (rows generated in parallel, each from its own stream).
pub fn updates(seed: u64, n: usize, f: usize, d: usize) -> Synthetic {
    let mu = normals(seed, 0, d);
    let mut data = vec![0.0f32; n * d];
    data.par_chunks_mut(d.max(1))
        .enumerate()
        .for_each(|(i, row)| {
            let noise = normals(seed, 1 + i as u64, d);
            if i >= n - f.min(n) {
                row.iter_mut().zip(&noise).for_each(|(r, z)| *r = 20.0 * z);
            } else {
                row.iter_mut()
                    .zip(mu.iter().zip(&noise))
                    .for_each(|(r, (m, z))| *r = m + 0.5 * z);
            }
        });
    let g = normals(seed, u64::MAX, d);
    Synthetic {
        data,
        n,
        d,
        byzantine: (n - f.min(n)..n).collect(),
        server_update: mu
            .iter()
            .zip(&g)
            .map(|(m, z)| f64::from(m + 0.25 * z))
            .collect(),
        sample_counts: (0..n).map(|i| (10 + (i * 37 + 11) % 90) as f64).collect(),
    }
}
