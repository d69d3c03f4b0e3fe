//! Ports of subtensor's weighted-median tests (`pallets/subtensor/src/tests/math.rs` at
//! `14bc6f9f`: `test_math_weighted_median`, `test_math_weighted_median_col`,
//! `test_math_weighted_median_col_sparse`). Values are built from `f32` as upstream's `fixed()`
//! and `vec_to_fixed` do.

use deai_yuma::math::{inplace_normalize, weighted_median, weighted_median_col, Fx};

fn fixed(x: f32) -> Fx {
    Fx::saturating_from_num(x)
}

fn vec_to_fixed(v: &[f32]) -> Vec<Fx> {
    v.iter().map(|&x| fixed(x)).collect()
}

/// Upstream's `vec_to_mat_fixed(vector, rows, false)`: row-major, `rows` rows.
fn mat(v: &[f32], rows: usize) -> Vec<Vec<Fx>> {
    let cols = v.len() / rows;
    v.chunks(cols).map(vec_to_fixed).collect()
}

fn median(stake: &[f32], score: &[f32], majority: f32, normalize_stake: bool) -> Fx {
    let mut stake = vec_to_fixed(stake);
    if normalize_stake {
        inplace_normalize(&mut stake);
    }
    let score = vec_to_fixed(score);
    let idx: Vec<usize> = (0..stake.len()).collect();
    let total = stake.iter().fold(Fx::ZERO, |a, &s| a + s);
    weighted_median(
        &stake,
        &score,
        &idx,
        Fx::ONE - fixed(majority),
        Fx::ZERO,
        total,
    )
}

#[test]
fn test_math_weighted_median() {
    assert_eq!(median(&[], &[], 0.51, false), Fx::ZERO);
    assert_eq!(median(&[0.51], &[1.], 0.51, true), Fx::ONE);
    assert_eq!(median(&[0.49, 0.51], &[0.5, 1.], 0.51, false), Fx::ONE);
    assert_eq!(median(&[0.51, 0.49], &[0.5, 1.], 0.51, false), fixed(0.5));
    assert_eq!(
        median(&[0.49, 0., 0.51], &[0.5, 0.7, 1.], 0.51, false),
        Fx::ONE
    );
    assert_eq!(
        median(&[0.49, 0.01, 0.5], &[0.5, 0.7, 1.], 0.51, false),
        fixed(0.7)
    );
    assert_eq!(
        median(&[0.49, 0.51, 0.0], &[0.5, 0.7, 1.], 0.51, false),
        fixed(0.7)
    );
    assert_eq!(
        median(&[0.0, 0.49, 0.51], &[0.5, 0.7, 1.], 0.51, false),
        Fx::ONE
    );
    assert_eq!(
        median(&[0.0, 0.49, 0.0, 0.51], &[0.5, 0.5, 1., 1.], 0.51, false),
        Fx::ONE
    );
    assert_eq!(
        median(
            &[0.0, 0.49, 0.0, 0.51, 0.0],
            &[0.5, 0.5, 1., 1., 0.5],
            0.51,
            false
        ),
        Fx::ONE
    );
    assert_eq!(
        median(&[0.2; 5], &[0.8, 0.2, 1., 0.6, 0.4], 0.51, false),
        fixed(0.6)
    );
    assert_eq!(
        median(
            &[0.1; 10],
            &[0.8, 0.8, 0.2, 0.2, 1.0, 1.0, 0.6, 0.6, 0.4, 0.4],
            0.51,
            false
        ),
        fixed(0.6)
    );
}

/// A tiny deterministic generator standing in for upstream's `rand::rng()`.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bit(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

/// The randomized part of `test_math_weighted_median`: the result is one of the medians found
/// by scanning the sorted scores, and it does not change when the UIDs are permuted.
#[test]
fn test_math_weighted_median_random() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let zero = Fx::ZERO;
    let one = Fx::ONE;
    let n = 100;
    for _ in 0..20 {
        for majority in vec_to_fixed(&[
            0., 0.0000001, 0.25, 0.49, 0.49, 0.49, 0.5, 0.51, 0.51, 0.51, 0.9999999, 1.,
        ]) {
            for allow_equal in [false, true] {
                let mut stake: Vec<Fx> = Vec::new();
                let mut score: Vec<Fx> = Vec::new();
                let mut last_score = zero;
                for i in 0..n {
                    if allow_equal {
                        stake.push(if rng.bit() { one } else { zero });
                        if rng.bit() {
                            last_score += one;
                        }
                        score.push(last_score);
                    } else {
                        stake.push(one);
                        score.push(Fx::from_num(i));
                    }
                }
                inplace_normalize(&mut stake);
                let total: Fx = stake.iter().fold(zero, |a, &s| a + s);
                let minority = (total - majority).max(zero);
                let mut medians: Vec<Fx> = Vec::new();
                let mut median_stake = zero;
                let mut median_set = false;
                let mut stake_sum = zero;
                for i in 0..n {
                    stake_sum += stake[i];
                    if !median_set && stake_sum >= minority {
                        median_stake = stake_sum;
                        median_set = true;
                    }
                    if median_set {
                        if median_stake < stake_sum {
                            if median_stake == minority && !medians.contains(&score[i]) {
                                medians.push(score[i]);
                            }
                            break;
                        }
                        if !medians.contains(&score[i]) {
                            medians.push(score[i]);
                        }
                    }
                }
                if medians.is_empty() {
                    medians.push(zero);
                }
                let idx: Vec<usize> = (0..n).collect();
                let result = weighted_median(&stake, &score, &idx, minority, zero, total);
                assert!(medians.contains(&result));
                for _ in 0..10 {
                    let mut perm: Vec<usize> = (0..n).collect();
                    for i in (1..n).rev() {
                        perm.swap(i, (rng.next() % (i as u64 + 1)) as usize);
                    }
                    stake = perm.iter().map(|&i| stake[i]).collect();
                    score = perm.iter().map(|&i| score[i]).collect();
                    let permuted = weighted_median(&stake, &score, &idx, minority, zero, total);
                    assert!(medians.contains(&permuted));
                }
            }
        }
    }
}

/// `test_math_weighted_median_col` and `_col_sparse` (same expectations; the crate has one
/// column median, used by the epoch).
#[test]
fn test_math_weighted_median_col() {
    let empty: Vec<Fx> = Vec::new();
    assert_eq!(weighted_median_col(&[], &[vec![]], fixed(0.5)), empty);

    let stake = vec_to_fixed(&[0., 0.]);
    let weights = mat(&[0., 0., 0., 0.], 2);
    assert_eq!(
        weighted_median_col(&stake, &weights, fixed(0.5)),
        vec_to_fixed(&[0., 0.])
    );

    let stake = vec_to_fixed(&[0., 0.75, 0.25, 0.]);
    let weights = mat(&[0., 0.1, 0., 0., 0.2, 0.4, 0., 0.3, 0.1, 0., 0.4, 0.5], 4);
    assert_eq!(
        weighted_median_col(&stake, &weights, fixed(0.24)),
        vec_to_fixed(&[0., 0.3, 0.4])
    );
    assert_eq!(
        weighted_median_col(&stake, &weights, fixed(0.26)),
        vec_to_fixed(&[0., 0.2, 0.4])
    );
    assert_eq!(
        weighted_median_col(&stake, &weights, fixed(0.76)),
        vec_to_fixed(&[0., 0.2, 0.1])
    );

    let stake = vec_to_fixed(&[0., 0.3, 0.2, 0.5]);
    let weights = mat(&[0., 0.1, 0., 0., 0.2, 0.4, 0., 0.3, 0.1, 0., 0., 0.5], 4);
    assert_eq!(
        weighted_median_col(&stake, &weights, fixed(0.51)),
        vec_to_fixed(&[0., 0., 0.4])
    );
}
