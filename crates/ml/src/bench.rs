//! The f32 matrix-product peak of this machine, measured with the same library ([`gemm`]) and
//! the same kernels the fused path uses, as the baseline of the federated-learning benchmark.
//!
//! Every one of `threads` threads multiplies its own `size × size` matrices with a
//! single-threaded GEMM, all at once (started by a barrier), repeatedly for at least
//! `min_seconds`; the peak is total flops (`2·size³` per product) over wall time. This is the
//! same shape of parallelism as federated rounds (one independent client per core).

use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::MlError;
use crate::matmul::{gemm, View};

/// A peak measurement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// Achieved GFLOP/s over all threads.
    pub gflops: f64,
    /// Threads that ran at once.
    pub threads: usize,
    /// Matrix side.
    pub size: usize,
    /// Products computed in total.
    pub products: u64,
    /// Wall time of the measurement.
    pub seconds: f64,
}

/// Measures the all-core f32 GEMM peak (see the module docs).
pub fn matmul_peak(threads: usize, size: usize, min_seconds: f64) -> Result<Peak, MlError> {
    let threads = threads.max(1);
    let barrier = Barrier::new(threads);
    let budget = Duration::from_secs_f64(min_seconds.max(0.0));
    let results: Vec<Result<(u64, Duration), MlError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || -> Result<(u64, Duration), MlError> {
                    let a: Vec<f32> = (0..size * size)
                        .map(|i| ((i * 7 + t) % 13) as f32 * 0.01)
                        .collect();
                    let b: Vec<f32> = (0..size * size)
                        .map(|i| ((i * 5 + t) % 11) as f32 * 0.01)
                        .collect();
                    let mut c = vec![0.0f32; size * size];
                    // warm-up (kernel selection, packing buffers, caches)
                    gemm(
                        size,
                        size,
                        size,
                        &mut c,
                        size,
                        None,
                        View::rows(&a, size),
                        View::rows(&b, size),
                        1.0,
                        1,
                    )?;
                    barrier.wait();
                    let start = Instant::now();
                    let mut n = 0u64;
                    while n == 0 || start.elapsed() < budget {
                        gemm(
                            size,
                            size,
                            size,
                            &mut c,
                            size,
                            Some(0.0),
                            View::rows(&a, size),
                            View::rows(&b, size),
                            1.0,
                            1,
                        )?;
                        n += 1;
                    }
                    Ok((n, start.elapsed()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(MlError::Aggregation("peak thread panicked".into())))
            })
            .collect()
    });
    let mut products = 0;
    let mut wall = Duration::ZERO;
    for r in results {
        let (n, d) = r?;
        products += n;
        wall = wall.max(d);
    }
    let seconds = wall.as_secs_f64();
    let flops = products as f64 * 2.0 * (size as f64).powi(3);
    Ok(Peak {
        gflops: flops / seconds / 1e9,
        threads,
        size,
        products,
        seconds,
    })
}
