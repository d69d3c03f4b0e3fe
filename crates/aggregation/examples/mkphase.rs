//! Phase timing of Multi-Krum's production path (development aid): the Gram pass with and
//! without column sums, the mean pass, and the whole rule. Usage: mkphase N D REPEAT
#![allow(clippy::disallowed_methods)] // a timing harness reads the clock (clippy.toml)
use std::time::Instant;

use deai_aggregation::{fast, from_spec, synthetic};
use serde_json::json;

fn best<R>(t: &mut f64, f: impl FnOnce() -> R) {
    let s = Instant::now();
    std::hint::black_box(f());
    *t = t.min(s.elapsed().as_secs_f64());
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n: usize = a.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let d: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(159_010);
    let rep: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let f = n / 5;
    let s = synthetic::updates(1, n, f, d);
    let rows = s.rows();
    let mk = from_spec("multi_krum", &json!({ "f": f })).unwrap();
    let kr = from_spec("krum", &json!({ "f": f })).unwrap();
    let mut coeffs = vec![0.0; n];
    coeffs[0] = -0.125;
    coeffs[1] = -0.125;
    let mut keep = vec![0.125; n];
    keep[0] = 0.0;
    keep[1] = 0.0;
    let mut t = [f64::MAX; 11];
    let mut reuse = vec![1.0f32; d];
    for _ in 0..rep {
        best(&mut t[0], || fast::plain_sum_blocked(&rows));
        best(&mut t[1], || fast::gram(&rows).unwrap());
        best(&mut t[2], || fast::gram_and_column_sums(&rows).unwrap());
        best(&mut t[3], || {
            fast::combine("x", &rows, &coeffs, false).unwrap()
        });
        best(&mut t[4], || kr.aggregate(&rows).unwrap());
        best(&mut t[5], || mk.aggregate(&rows).unwrap());
        best(&mut t[7], || {
            fast::combine("x", &rows, &keep, false).unwrap()
        });
        best(&mut t[8], || vec![0.0f32; d]);
        best(&mut t[9], || {
            use rayon::prelude::*;
            let mut v = vec![0.0f32; d];
            v.par_chunks_mut(16384)
                .for_each(|c| c.iter_mut().for_each(|x| *x = 1.0));
            v
        });
        best(&mut t[10], || {
            use rayon::prelude::*;
            reuse
                .par_chunks_mut(16384)
                .for_each(|c| c.iter_mut().for_each(|x| *x = 1.0));
        });
        best(&mut t[6], || {
            vec![0.0f64; d].iter_mut().for_each(|v| *v = 1.0)
        });
    }
    let names = [
        "bound",
        "gram",
        "gram+sums",
        "combine2",
        "krum",
        "multi_krum",
        "alloc+touch f64 d",
        "combine kept",
        "vec![0f32; d]",
        "new vec, par fill",
        "old vec, par fill",
    ];
    for (nm, v) in names.iter().zip(t) {
        println!(
            "{n:>4} {d:>8} {nm:<18} {:>8.3} ms  x{:>5.2}",
            v * 1e3,
            v / t[0]
        );
    }
}
