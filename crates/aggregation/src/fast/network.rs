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

fn batcher(n: usize) -> Vec<(usize, usize)> {
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
                            steps.push((a, b));
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

impl Network {
    /// The pruned network for `n ≤ 65535` inputs and the values the caller reads.
    pub fn new(n: usize, needed: Needed) -> Self {
        // Liveness, backwards: 0 = dead, 1 = member of the summed range (order irrelevant),
        // 2.. = a distinct exact value.
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
        for &(a, b) in batcher(n).iter().rev() {
            let (sa, sb) = (state[a], state[b]);
            if sa == sb && sa <= 1 {
                continue; // both dead, or both only summed: the swap changes nothing read
            }
            state[a] = next_tag;
            state[b] = next_tag + 1;
            next_tag += 2;
            kept.push((a as u16, b as u16));
        }
        kept.reverse();
        Self { steps: kept }
    }
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
}
