//! A minimal subnet that carries state between epochs the way subtensor's storage does, so that
//! subtensor's multi-epoch tests can be replayed through [`epoch_fixed`].

use deai_yuma::math::max_upscale_u16;
use deai_yuma::{
    bonds_from_u16, epoch_fixed, weights_from_u16, FixedEpochOutput, FixedInput, FixedParams,
    Masks, Outdated, UidMatrix, I96F32,
};

/// Stored subnet state: stake, `u16` weights as `set_weights` stores them, `u16` bonds, permits.
pub struct Subnet {
    pub n: usize,
    pub stake: Vec<u128>,
    /// Sparse rows `(uid_j, w_ij)` as stored by `set_weights` (max-upscaled).
    pub weights: Vec<Vec<(u16, u16)>>,
    /// Stored bonds, dense `u16`.
    pub bonds: Vec<Vec<u16>>,
    /// Validator permits stored by the previous epoch (all false before the first).
    pub permits: Vec<bool>,
    /// Outdated-weights mask used by every epoch (default: none).
    pub outdated: Outdated,
    pub params: FixedParams,
}

impl Subnet {
    /// A subnet with subtensor's mock defaults and an emission of 10^9 per epoch (as the tests).
    pub fn new(stake: &[u128]) -> Subnet {
        let n = stake.len();
        let mut params = FixedParams::chain_defaults();
        params.emission = I96F32::from_num(1_000_000_000u64);
        Subnet {
            n,
            stake: stake.to_vec(),
            weights: vec![Vec::new(); n],
            bonds: vec![vec![0; n]; n],
            permits: vec![false; n],
            outdated: Outdated::None,
            params,
        }
    }

    /// `set_weights(uid, uids, values)`: values are max-upscaled, then stored.
    pub fn set_weights(&mut self, uid: usize, uids: &[u16], values: &[u16]) {
        let stored = max_upscale_u16(values);
        self.weights[uid] = uids.iter().copied().zip(stored).collect();
    }

    /// Runs one epoch with an activity mask and stores permits and bonds as subtensor does:
    /// a UID with a new permit stores its new bond row, a UID that lost its permit is cleared,
    /// any other row is left untouched.
    pub fn epoch(&mut self, active: Option<Vec<bool>>) -> FixedEpochOutput {
        let mut w = UidMatrix::<u16>::new(self.n);
        for (uid, row) in self.weights.iter().enumerate() {
            if !row.is_empty() {
                w.push_sparse_row("weights", uid, row).unwrap();
            }
        }
        let b = UidMatrix::from_dense("bonds_prev", &self.bonds).unwrap();
        let input = FixedInput {
            stake: self.stake.clone(),
            weights: weights_from_u16(&w),
            bonds: bonds_from_u16(&b, self.params.yuma3),
            masks: Masks {
                validator_permits: Some(self.permits.clone()),
                active,
                outdated: self.outdated.clone(),
                recently_registered: None,
            },
            params: self.params.clone(),
        };
        let out = epoch_fixed(&input).unwrap();
        for i in 0..self.n {
            if out.new_validator_permits[i] {
                self.bonds[i] = (0..self.n).map(|j| out.bonds_out_u16.get(i, j)).collect();
            } else if self.permits[i] {
                self.bonds[i] = vec![0; self.n];
            }
        }
        self.permits = out.new_validator_permits.clone();
        out
    }

    /// Bond of `i` on `j` as `get_bonds_fixed_proportion` reads it (`u16 / 65535`).
    pub fn bond_proportion(&self, i: usize, j: usize) -> f64 {
        f64::from(self.bonds[i][j]) / 65535.0
    }
}

/// `get_dividends_for_uid`: the stored `u16` of a dividend.
pub fn dividend_u16(out: &FixedEpochOutput, uid: usize) -> u16 {
    deai_yuma::math::fixed_proportion_to_u16(out.dividends[uid])
}

/// `get_emission_for_uid`: the combined emission floored to an integer.
pub fn emission_u64(out: &FixedEpochOutput, uid: usize) -> u64 {
    out.combined_emission[uid].saturating_to_num::<u64>()
}
