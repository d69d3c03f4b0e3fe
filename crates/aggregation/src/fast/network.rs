//! Sorting and selection networks for coordinate-wise order statistics.
//!
//! A network is a fixed list of compare-exchange steps (a, b), a < b: afterwards position a
//! holds the smaller value. Running the same list on every coordinate lets the production
//! path process [`LANES`] coordinates at once with vector min/max instead of sorting each
//! column. The list is Batcher's odd–even merge sort for the next power of two, with the steps
//! that touch padding removed (padding is +∞ and never moves), then pruned backwards to the
//! steps that can change the values the statistic reads.

/// Coordinates processed together (one 512-bit vector of f32, or two 256-bit ones).
pub const LANES: usize = 16;

/// A compare-exchange list for n inputs.
#[derive(Debug, Clone)]
pub struct Network {
    /// The steps, in order: (lower position, higher position).
    pub steps: Vec<(u16, u16)>,
}

/// What the caller reads after the network ran.
#[derive(Debug, Clone, Copy)]
pub enum Needed {
    /// Exact values at these sorted positions.
    Positions(usize, usize),
    /// The multiset of sorted positions lo..hi (their sum), order inside irrelevant.
    Range(usize, usize),
}

/// Batcher's steps for n inputs, each with its merge stage p (1, 2, 4, …): the steps of the
/// stages p < 16 only compare positions inside one aligned block of 16.
fn batcher_staged(n: usize) -> Vec<(usize, usize, usize)> {
    let size = n.next_power_of_two();
    let mut steps = Vec::new();
    let mut p = 1;
    while p < size {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < size {
                for i in 0..k.min(size - j - k) {
                    if (i + j) / (2 * p) == (i + j + k) / (2 * p) {
                        let (a, b) = (i + j, i + j + k);
                        if b < n {
                            steps.push((a, b, p));
                        }
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    steps
}

#[cfg(test)]
fn batcher(n: usize) -> Vec<(usize, usize)> {
    batcher_staged(n)
        .into_iter()
        .map(|(a, b, _)| (a, b))
        .collect()
}

/// Rows per block that [`Network::after_sorted_blocks`] expects sorted already.
pub const BLOCK_ROWS: usize = 16;

/// Batcher's network for [`BLOCK_ROWS`] inputs (its first four stages, the same steps in the
/// same order as in every larger network, per aligned block of 16).
#[rustfmt::skip]
pub const SORT16: [(u8, u8); 63] = [
    (0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13), (14, 15),
    (0, 2), (1, 3), (4, 6), (5, 7), (8, 10), (9, 11), (12, 14), (13, 15),
    (1, 2), (5, 6), (9, 10), (13, 14),
    (0, 4), (1, 5), (2, 6), (3, 7), (8, 12), (9, 13), (10, 14), (11, 15),
    (2, 4), (3, 5), (10, 12), (11, 13),
    (1, 2), (3, 4), (5, 6), (9, 10), (11, 12), (13, 14),
    (0, 8), (1, 9), (2, 10), (3, 11), (4, 12), (5, 13), (6, 14), (7, 15),
    (4, 8), (5, 9), (6, 10), (7, 11),
    (2, 4), (3, 5), (6, 8), (7, 9), (10, 12), (11, 13),
    (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14),
];

impl Network {
    /// The pruned network for `n ≤ 65535` inputs and the values the caller reads.
    pub fn new(n: usize, needed: Needed) -> Self {
        let all = batcher_staged(n);
        let kept = prune(n, &all, needed);
        Self {
            steps: kept
                .iter()
                .map(|&i| (all[i].0 as u16, all[i].1 as u16))
                .collect(),
        }
    }

    /// The steps of [`Network::new`] that remain once every aligned block of [`BLOCK_ROWS`]
    /// positions has been sorted (a last partial block sorted as if padded with +∞): the
    /// caller runs [`SORT16`] on each block (it may do more steps than the pruned network
    /// keeps, which changes nothing the statistic reads), then these.
    pub fn after_sorted_blocks(n: usize, needed: Needed) -> Self {
        let all = batcher_staged(n);
        let kept = prune(n, &all, needed);
        Self {
            steps: kept
                .iter()
                .filter(|&&i| all[i].2 >= BLOCK_ROWS)
                .map(|&i| (all[i].0 as u16, all[i].1 as u16))
                .collect(),
        }
    }
}

/// Indices of the steps that can change a value the statistic reads (liveness, backwards:
/// 0 = dead, 1 = member of the summed range, order irrelevant, 2.. = a distinct exact value).
fn prune(n: usize, all: &[(usize, usize, usize)], needed: Needed) -> Vec<usize> {
    let mut state: Vec<usize> = vec![0; n];
    match needed {
        Needed::Positions(a, b) => {
            state[a] = 2;
            state[b] = 3;
        }
        Needed::Range(lo, hi) => state[lo..hi].iter_mut().for_each(|s| *s = 1),
    }
    let mut next_tag = 4;
    let mut kept = Vec::new();
    for (i, &(a, b, _)) in all.iter().enumerate().rev() {
        let (sa, sb) = (state[a], state[b]);
        if sa == sb && sa <= 1 {
            continue; // both dead, or both only summed: the swap changes nothing read
        }
        state[a] = next_tag;
        state[b] = next_tag + 1;
        next_tag += 2;
        kept.push(i);
    }
    kept.reverse();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(net: &[(u16, u16)], v: &mut [f64]) {
        for &(a, b) in net {
            let (a, b) = (a as usize, b as usize);
            if v[b] < v[a] {
                v.swap(a, b);
            }
        }
    }

    #[test]
    fn batcher_sorts_every_binary_input_up_to_12() {
        // 0-1 principle: a network sorts everything iff it sorts every 0/1 input.
        for n in 1..=12usize {
            let steps: Vec<(u16, u16)> = batcher(n)
                .iter()
                .map(|&(a, b)| (a as u16, b as u16))
                .collect();
            for bits in 0u32..(1 << n) {
                let mut v: Vec<f64> = (0..n).map(|i| f64::from((bits >> i) & 1)).collect();
                run(&steps, &mut v);
                assert!(v.windows(2).all(|w| w[0] <= w[1]), "n={n} bits={bits:b}");
            }
        }
    }

    #[test]
    fn pruned_networks_give_the_statistic() {
        let mut state = 12345u64;
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 7) as f64
        };
        for n in [1usize, 2, 3, 5, 10, 17, 50, 100] {
            let med = Network::new(n, Needed::Positions((n - 1) / 2, n / 2));
            let k = n / 5;
            let trim = Network::new(n, Needed::Range(k, n - k));
            assert!(med.steps.len() <= batcher(n).len());
            for _ in 0..200 {
                let v: Vec<f64> = (0..n).map(|_| rnd()).collect();
                let mut sorted = v.clone();
                sorted.sort_by(f64::total_cmp);
                let mut a = v.clone();
                run(&med.steps, &mut a);
                assert_eq!(a[(n - 1) / 2], sorted[(n - 1) / 2]);
                assert_eq!(a[n / 2], sorted[n / 2]);
                let mut b = v.clone();
                run(&trim.steps, &mut b);
                let s1: f64 = b[k..n - k].iter().sum();
                let s2: f64 = sorted[k..n - k].iter().sum();
                assert_eq!(s1, s2);
            }
        }
    }

    #[test]
    fn sort16_is_the_first_four_stages_and_blocks_then_rest_give_the_statistic() {
        let first: Vec<(usize, usize)> = batcher_staged(16)
            .into_iter()
            .filter(|s| s.2 < BLOCK_ROWS)
            .map(|(a, b, _)| (a, b))
            .collect();
        let table: Vec<(usize, usize)> = SORT16
            .iter()
            .map(|&(a, b)| (usize::from(a), usize::from(b)))
            .collect();
        assert_eq!(first, table);
        let mut state = 99u64;
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 5) as f64
        };
        let sort16: Vec<(u16, u16)> = SORT16
            .iter()
            .map(|&(a, b)| (u16::from(a), u16::from(b)))
            .collect();
        for n in [1usize, 2, 7, 10, 16, 17, 33, 50, 100] {
            let k = n / 5;
            let med = Network::after_sorted_blocks(n, Needed::Positions((n - 1) / 2, n / 2));
            let trim = Network::after_sorted_blocks(n, Needed::Range(k, n - k));
            for _ in 0..200 {
                let v: Vec<f64> = (0..n).map(|_| rnd()).collect();
                let mut sorted = v.clone();
                sorted.sort_by(f64::total_cmp);
                let blocks = |v: &mut Vec<f64>| {
                    for b in (0..n).step_by(BLOCK_ROWS) {
                        let mut block = [f64::INFINITY; BLOCK_ROWS];
                        let m = (n - b).min(BLOCK_ROWS);
                        block[..m].copy_from_slice(&v[b..b + m]);
                        run(&sort16, &mut block);
                        v[b..b + m].copy_from_slice(&block[..m]);
                    }
                };
                let mut a = v.clone();
                blocks(&mut a);
                run(&med.steps, &mut a);
                assert_eq!(a[(n - 1) / 2], sorted[(n - 1) / 2]);
                assert_eq!(a[n / 2], sorted[n / 2]);
                let mut b = v.clone();
                blocks(&mut b);
                run(&trim.steps, &mut b);
                let s1: f64 = b[k..n - k].iter().sum();
                let s2: f64 = sorted[k..n - k].iter().sum();
                assert_eq!(s1, s2, "n={n}");
            }
        }
    }
}
