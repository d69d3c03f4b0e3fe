//! Properties of the epoch on arbitrary inputs: no panic, incentive sums to 1 or 0, UID
//! permutations permute the output bit for bit, and the fast paths equal the reference ones.

use deai_yuma::math::{
    moving_average_from_millionths, safe_div, u16_proportion, weighted_median, Fx, Recip,
};
use deai_yuma::{
    bonds_from_u16, epoch_fixed, parse_epoch_input, run_epoch, weights_from_u16, FixedEpochOutput,
    FixedInput, FixedParams, Masks, Outdated, UidMatrix, I96F32,
};
use proptest::prelude::*;

/// Raw material of a fixed-point epoch input of size n.
#[derive(Clone, Debug)]
struct Raw {
    stake: Vec<u128>,
    weights: Vec<Option<Vec<u16>>>,
    bonds: Vec<Option<Vec<u16>>>,
    permits: Option<Vec<bool>>,
    active: Option<Vec<bool>>,
    outdated: Option<Vec<Vec<bool>>>,
    recent: Option<Vec<bool>>,
    kappa: u16,
    penalty: u16,
    bma: u64,
    alphas: (u16, u16),
    steepness: i16,
    yuma3: bool,
    liquid: bool,
    max_validators: Option<usize>,
    owner: Option<usize>,
    threshold: u128,
}

fn stake_value() -> impl Strategy<Value = u128> {
    prop_oneof![
        3 => 0u128..1000,
        1 => Just(0u128),
        1 => any::<u64>().prop_map(u128::from),
        1 => (0u128..4).prop_map(|k| k << 100),
    ]
}

fn raw(max_n: usize) -> impl Strategy<Value = Raw> {
    (0..=max_n).prop_flat_map(|n| {
        let row = proptest::option::weighted(0.7, prop::collection::vec(any::<u16>(), n));
        let mask = proptest::option::of(prop::collection::vec(any::<bool>(), n));
        (
            (
                prop::collection::vec(stake_value(), n),
                prop::collection::vec(row.clone(), n),
                prop::collection::vec(row, n),
                mask.clone(),
                mask.clone(),
                proptest::option::of(prop::collection::vec(
                    prop::collection::vec(any::<bool>(), n),
                    n,
                )),
                mask,
            ),
            (
                any::<u16>(),
                any::<u16>(),
                0u64..=1_000_000,
                (any::<u16>(), any::<u16>()),
                any::<i16>(),
                any::<bool>(),
                any::<bool>(),
                proptest::option::of(0usize..=n + 1),
                proptest::option::of(0..n.max(1)),
                0u128..600,
            ),
        )
            .prop_map(move |(a, b)| Raw {
                stake: a.0,
                weights: a.1,
                bonds: a.2,
                permits: a.3,
                active: a.4,
                outdated: a.5,
                recent: a.6,
                kappa: b.0,
                penalty: b.1,
                bma: b.2,
                alphas: (b.3 .0.min(b.3 .1), b.3 .0.max(b.3 .1)),
                steepness: b.4,
                yuma3: b.5,
                liquid: b.6,
                max_validators: b.7,
                owner: if n == 0 { None } else { b.8 },
                threshold: b.9,
            })
    })
}

fn rows(n: usize, rows: &[Option<Vec<u16>>]) -> UidMatrix<u16> {
    let mut m = UidMatrix::new(n);
    for (uid, r) in rows.iter().enumerate() {
        if let Some(r) = r {
            m.push_row("m", uid, r).unwrap();
        }
    }
    m
}

fn build(r: &Raw) -> FixedInput {
    let n = r.stake.len();
    let mut params = FixedParams::chain_defaults();
    params.kappa = u16_proportion(r.kappa);
    params.bonds_penalty = u16_proportion(r.penalty);
    params.bonds_moving_average = moving_average_from_millionths(r.bma);
    params.alpha_low = u16_proportion(r.alphas.0);
    params.alpha_high = u16_proportion(r.alphas.1);
    params.alpha_sigmoid_steepness = Fx::from_num(r.steepness);
    params.yuma3 = r.yuma3;
    params.liquid_alpha = r.liquid;
    params.max_allowed_validators = r.max_validators;
    params.owner_uid = r.owner;
    params.stake_threshold = r.threshold;
    params.emission = I96F32::from_num(1_000_000_000u64);
    FixedInput {
        stake: r.stake.clone(),
        weights: weights_from_u16(&rows(n, &r.weights)),
        bonds: bonds_from_u16(&rows(n, &r.bonds), r.yuma3),
        masks: Masks {
            validator_permits: r.permits.clone(),
            active: r.active.clone(),
            outdated: r.outdated.clone().map_or(Outdated::None, Outdated::Matrix),
            recently_registered: r.recent.clone(),
        },
        params,
    }
}

fn permute(r: &Raw, perm: &[usize]) -> Raw {
    // New UID k is old UID perm[k].
    let n = perm.len();
    let mut inverse = vec![0; n];
    for (k, &old) in perm.iter().enumerate() {
        inverse[old] = k;
    }
    let vec = |v: &[bool]| perm.iter().map(|&o| v[o]).collect::<Vec<bool>>();
    let mat_rows = |m: &[Option<Vec<u16>>]| {
        perm.iter()
            .map(|&o| {
                m[o].as_ref()
                    .map(|row| perm.iter().map(|&c| row[c]).collect())
            })
            .collect()
    };
    Raw {
        stake: perm.iter().map(|&o| r.stake[o]).collect(),
        weights: mat_rows(&r.weights),
        bonds: mat_rows(&r.bonds),
        permits: r.permits.as_deref().map(vec),
        active: r.active.as_deref().map(vec),
        outdated: r.outdated.as_ref().map(|m| {
            perm.iter()
                .map(|&o| perm.iter().map(|&c| m[o][c]).collect())
                .collect()
        }),
        recent: r.recent.as_deref().map(vec),
        owner: r.owner.map(|o| inverse[o]),
        ..r.clone()
    }
}

fn sum_bits(v: &[Fx]) -> i64 {
    v.iter().map(|x| x.to_bits()).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn epoch_never_fails_on_valid_fixed_input(r in raw(9)) {
        let out = epoch_fixed(&build(&r));
        prop_assert!(out.is_ok(), "{:?}", out.err());
    }

    #[test]
    fn incentive_and_dividends_sum_to_one_or_zero(r in raw(9)) {
        let out = epoch_fixed(&build(&r)).unwrap();
        let n = r.stake.len() as i64;
        for v in [&out.incentive, &out.dividends, &out.normalized_combined_emission] {
            let s = sum_bits(v);
            // Each normalized entry is truncated by less than one ulp (2^-32).
            prop_assert!(s == 0 || (s <= 1 << 32 && s > (1 << 32) - n), "sum {s}");
        }
        let shares = sum_bits(&out.normalized_server_emission)
            + sum_bits(&out.normalized_validator_emission);
        prop_assert!(shares <= 1 << 32, "shares {shares}");
    }

    #[test]
    fn permuting_uids_permutes_the_output(r in raw(8), seed in any::<u64>()) {
        // Tied stakes at the top-k cut are broken by UID, so leave k unlimited here.
        let r = Raw { max_validators: None, ..r };
        let n = r.stake.len();
        let mut perm: Vec<usize> = (0..n).collect();
        let mut s = seed | 1;
        for i in (1..n).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            perm.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let a = epoch_fixed(&build(&r)).unwrap();
        let b = epoch_fixed(&build(&permute(&r, &perm))).unwrap();
        let same = |x: &FixedEpochOutput, y: &FixedEpochOutput| -> Result<(), TestCaseError> {
            for (k, &old) in perm.iter().enumerate() {
                prop_assert_eq!(y.incentive[k], x.incentive[old]);
                prop_assert_eq!(y.dividends[k], x.dividends[old]);
                prop_assert_eq!(y.consensus[k], x.consensus[old]);
                prop_assert_eq!(y.validator_trust[k], x.validator_trust[old]);
                prop_assert_eq!(y.combined_emission[k], x.combined_emission[old]);
                prop_assert_eq!(y.new_validator_permits[k], x.new_validator_permits[old]);
                for (c, &oc) in perm.iter().enumerate() {
                    prop_assert_eq!(y.bonds_out_u16.get(k, c), x.bonds_out_u16.get(old, oc));
                    prop_assert_eq!(y.weights.get(k, c), x.weights.get(old, oc));
                }
            }
            Ok(())
        };
        same(&a, &b)?;
    }

    #[test]
    fn json_path_never_panics(
        stake in prop::collection::vec(prop_oneof![any::<f64>(), 0.0f64..1e6], 0..6),
        w in prop::collection::vec(prop::collection::vec(prop_oneof![any::<f64>(), 0.0f64..65535.0], 0..6), 0..6),
        kappa in prop_oneof![any::<f64>(), 0.0f64..1.0],
        yuma3 in any::<bool>(),
    ) {
        let json = serde_json::json!({
            "stake": stake.iter().map(|x| if x.is_finite() { serde_json::json!(x) } else { serde_json::Value::Null }).collect::<Vec<_>>(),
            "weights": w,
            "params": {"kappa": kappa, "yuma3": yuma3, "liquid_alpha": true},
        });
        if let Ok(input) = parse_epoch_input(&json.to_string()) {
            let _ = run_epoch(&input);
        }
    }

    #[test]
    fn recip_equals_safe_div(a in any::<i64>(), b in any::<i64>(), small in 0i64..(1 << 34)) {
        for (x, y) in [(a, b), (small, b), (a.abs() >> 20, small.max(1)), (small, small / 3 + 1)] {
            let (x, y) = (Fx::from_bits(x), Fx::from_bits(y));
            prop_assert_eq!(Recip::new(y).div(x), safe_div(x, y));
        }
    }

    #[test]
    fn sorted_median_equals_partition_median(
        entries in prop::collection::vec((0u32..20, 0u32..5), 0..40),
        kappa in any::<u16>(),
    ) {
        // Few distinct scores and stakes, to exercise ties and zero stakes.
        let stake: Vec<Fx> = entries.iter().map(|e| Fx::from_num(e.1) / 4).collect();
        let score: Vec<Fx> = entries.iter().map(|e| Fx::from_num(e.0) / 16).collect();
        let rows: Vec<Vec<Fx>> = score.iter().map(|&s| vec![s]).collect();
        let majority = u16_proportion(kappa);
        let got = deai_yuma::math::weighted_median_col(&stake, &rows, majority);
        // Reference: the partition algorithm on the positive-stake rows, renormalized.
        let (mut use_stake, use_score): (Vec<Fx>, Vec<Fx>) = stake
            .iter()
            .zip(&score)
            .filter(|(s, _)| **s > Fx::ZERO)
            .map(|(&s, &c)| (s, c))
            .unzip();
        deai_yuma::math::inplace_normalize(&mut use_stake);
        let total = use_stake.iter().fold(Fx::ZERO, |a, &s| a + s);
        let idx: Vec<usize> = (0..use_stake.len()).collect();
        let want = if use_stake.is_empty() {
            Fx::ZERO
        } else {
            weighted_median(&use_stake, &use_score, &idx, total.saturating_sub(majority), Fx::ZERO, total)
        };
        if rows.is_empty() {
            prop_assert!(got.is_empty());
        } else {
            prop_assert_eq!(got, vec![want]);
        }
    }
}
