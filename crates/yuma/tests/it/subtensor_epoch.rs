//! Ports of subtensor's own epoch tests (`pallets/subtensor/src/tests/epoch.rs` at
//! `14bc6f9f`), replayed through [`Subnet`]. Expected numbers are copied from the upstream
//! assertions; where upstream compares with a tolerance (the Yuma3 tests, 1e-3) so do we.

use deai_yuma::math::u16_proportion;
use deai_yuma::{Outdated, I32F32, I96F32};

use crate::subnet::{dividend_u16, emission_u64, Subnet};

const MAX: u16 = u16::MAX;

/// `test_bonds`: classic bonds EMA over a sequence of epochs (bonds penalty 1, no liquid alpha).
#[test]
fn test_bonds() {
    let mut net = Subnet::new(&[1, 2, 3, 4, 0, 0, 0, 0]);
    net.params.max_allowed_validators = Some(8);
    // First epoch sets the validator permits.
    net.epoch(None);
    // Validators weight servers 0.1, 0.2, 0.3, 0.4.
    for uid in 0..4 {
        net.set_weights(uid, &[4, 5, 6, 7], &[MAX / 4, MAX / 2, (MAX / 4) * 3, MAX]);
    }
    let check = |net: &Subnet, col: usize, want: [u16; 4]| {
        let got: Vec<u16> = (0..4).map(|i| net.bonds[i][col]).collect();
        assert_eq!(got, want, "bonds on uid {col}");
    };
    net.epoch(None);
    check(&net, 4, [16383, 32767, 49151, 65535]);

    // Self-weight only on val1, then val2, then val3.
    net.set_weights(0, &[0], &[MAX]);
    net.epoch(None);
    check(&net, 4, [14582, 32767, 49151, 65535]);
    net.set_weights(1, &[1], &[MAX]);
    net.epoch(None);
    check(&net, 4, [12603, 28321, 49151, 65535]);
    net.set_weights(2, &[2], &[MAX]);
    let out = net.epoch(None);
    check(&net, 7, [12602, 28320, 49150, 65535]);
    // Only val4 (40% stake) sets weights: no consensus, incentive 0, emission falls back to stake.
    assert!(out.consensus.iter().all(|c| *c == I32F32::ZERO));
    assert_eq!(
        (0..8).map(|u| emission_u64(&out, u)).collect::<Vec<_>>(),
        [99999999, 199999999, 299999999, 399999999, 0, 0, 0, 0]
    );

    // val3 -> srv4 with weight 1.
    net.set_weights(2, &[7], &[MAX]);
    let out = net.epoch(None);
    check(&net, 7, [10951, 24609, 49150, 65535]);
    assert_eq!(
        (0..8).map(|u| emission_u64(&out, u)).collect::<Vec<_>>(),
        [36443733, 81898628, 163565493, 218092144, 0, 0, 0, 500000000]
    );
    net.epoch(None);
    check(&net, 7, [9559, 21482, 49150, 65535]);
    net.epoch(None);
    check(&net, 7, [8376, 18824, 49150, 65535]);
}

/// `test_active_stake`: inactive validators lose their active stake but keep decaying bonds.
#[test]
fn test_active_stake() {
    let n = 4;
    let mut net = Subnet::new(&[1, 1, 1, 1]);
    net.params.max_allowed_validators = Some(n);
    net.epoch(None);
    for uid in 0..n / 2 {
        net.set_weights(uid, &[2, 3], &[MAX / 2; 2]);
    }
    let out = net.epoch(None);
    for uid in 0..n {
        if uid < n / 2 {
            assert_eq!(dividend_u16(&out, uid), 32767);
        }
        assert_eq!(emission_u64(&out, uid), 250000000);
    }
    for validator in 0..n / 2 {
        assert_eq!(&net.bonds[validator][..n / 2], &[0, 0]);
        assert_eq!(&net.bonds[validator][n / 2..], &[65535, 65535]);
    }

    // Past the activity cutoff only uid 0 has updated its weights.
    net.set_weights(0, &[2, 3], &[MAX / 2; 2]);
    let out = net.epoch(Some(vec![true, false, false, false]));
    assert_eq!(dividend_u16(&out, 0), 36044);
    assert_eq!(emission_u64(&out, 0), 274999999);
    assert_eq!(&net.bonds[0][2..], &[65535, 65535]);
    assert_eq!(dividend_u16(&out, 1), 29490);
    assert_eq!(emission_u64(&out, 1), 224999999);
    assert_eq!(&net.bonds[1][2..], &[53619, 53619]);

    // uid 1 updates too.
    net.set_weights(1, &[2, 3], &[MAX / 2; 2]);
    let out = net.epoch(Some(vec![true, true, false, false]));
    assert_eq!(dividend_u16(&out, 0), 35716);
    assert_eq!(emission_u64(&out, 0), 272501132);
    assert_eq!(&net.bonds[0][2..], &[65535, 65535]);
    assert_eq!(dividend_u16(&out, 1), 29818);
    assert_eq!(emission_u64(&out, 1), 227498866);
    assert_eq!(&net.bonds[1][2..], &[54712, 54712]);
}

/// `test_outdated_weights`: weights set before a UID re-registered are masked; the new
/// neuron at that UID loses its permit and stake.
#[test]
fn test_outdated_weights() {
    let n = 4;
    let mut net = Subnet::new(&[1, 1, 1, 1]);
    net.params.max_allowed_validators = Some(n);
    net.epoch(None);
    for uid in 0..n / 2 {
        net.set_weights(uid, &[2, 3], &[2 * (MAX / 3), MAX / 3]);
    }
    assert_eq!(net.weights[0], vec![(2, 65535), (3, 32768)]);
    for uid in n / 2..n {
        net.set_weights(uid, &[uid as u16], &[MAX]);
    }
    net.epoch(None);

    // A new key replaces uid 3 at block 1: no stake, no permit, fresh row.
    net.stake[3] = 0;
    net.permits[3] = false;
    net.weights[3].clear();
    net.bonds[3] = vec![0; n];
    // At block 2 only uid 0 updates its weights.
    net.set_weights(0, &[2, 3], &[2 * (MAX / 3), MAX / 3]);
    net.outdated = Outdated::Blocks {
        last_update: vec![2, 1, 1, 1],
        block_at_registration: vec![0, 0, 0, 1],
    };
    let out = net.epoch(None);
    assert_eq!(dividend_u16(&out, 0), 32767);
    assert_eq!(emission_u64(&out, 0), 250000000);
    assert_eq!(net.bonds[0][2], 65535);
    assert_eq!(net.bonds[0][3], 65535);
}

/// Subtensor's `setup_yuma_3_scenario`: Yuma3 with liquid alpha (0.1, 0.3), steepness 1000,
/// bonds moving average 0.975, no bonds penalty, κ = 0.5, three validator permits; runs the
/// first epoch that hands out the permits.
fn yuma3(stakes: &[u128]) -> Subnet {
    let mut net = Subnet::new(stakes);
    net.params.bonds_penalty = I32F32::ZERO;
    net.params.alpha_sigmoid_steepness = I32F32::from_num(1000);
    net.params.bonds_moving_average = deai_yuma::math::moving_average_from_millionths(975_000);
    net.params.kappa = u16_proportion(MAX / 2);
    net.params.liquid_alpha = true;
    // set_alpha_values_32(0.1, 0.3) stores floor(x · 65535).
    net.params.alpha_low = u16_proportion(fixed_to_u16(0.1));
    net.params.alpha_high = u16_proportion(fixed_to_u16(0.3));
    net.params.yuma3 = true;
    net.params.max_allowed_validators = Some(3);
    net.epoch(None);
    net
}

fn fixed_to_u16(x: f64) -> u16 {
    deai_yuma::math::fixed_proportion_to_u16(I32F32::from_num(x))
}

fn set_all(net: &mut Subnet, rows: &[&[u16]], servers: &[u16]) {
    for (uid, row) in rows.iter().enumerate() {
        net.set_weights(uid, servers, row);
    }
}

/// `run_epoch_and_check_bonds_dividends`: bonds (as `u16 / 65535`) of the three validators on
/// the servers and every dividend, within upstream's 1e-3.
fn check(net: &mut Subnet, epoch: usize, bonds: &[&[f64]], dividends: &[f64]) {
    let out = net.epoch(None);
    let servers = bonds[0].len();
    for (i, row) in bonds.iter().enumerate() {
        for (k, &want) in row.iter().enumerate() {
            let j = net.n - servers + k;
            let got = net.bond_proportion(i, j);
            assert!(
                (got - want).abs() <= 1e-3,
                "epoch {epoch}: bond[{i}][{j}] = {got}, expected {want}"
            );
        }
    }
    for (uid, &want) in dividends.iter().enumerate() {
        let got = f64::from(dividend_u16(&out, uid)) / 65535.0;
        assert!(
            (got - want).abs() <= 1e-3,
            "epoch {epoch}: dividend[{uid}] = {got}, expected {want}"
        );
    }
}

/// Per epoch: validator bonds on the servers, and every dividend.
type Target<'a> = (&'a [&'a [f64]], &'a [f64]);
type Scenario<'a> = [Target<'a>];
/// An epoch number with its bonds and dividends.
type Checkpoint<'a> = (usize, &'a [&'a [f64]], &'a [f64]);

fn run_scenario(net: &mut Subnet, targets: &Scenario, mut weights: impl FnMut(&mut Subnet, usize)) {
    for (epoch, (bonds, dividends)) in targets.iter().enumerate() {
        weights(net, epoch);
        check(net, epoch, bonds, dividends);
    }
}

const TO_S1: &[u16] = &[MAX, 0];
const TO_S2: &[u16] = &[0, MAX];

#[test]
fn test_yuma_3_kappa_moves_first() {
    let mut net = yuma3(&[8, 1, 1, 0, 0]);
    let targets: &Scenario = &[
        (
            &[&[0.1013, 0.0], &[0.1013, 0.0], &[0.1013, 0.0]],
            &[0.8, 0.1, 0.1, 0.0, 0.0],
        ),
        (
            &[&[0.0908, 0.1013], &[0.3697, 0.0], &[0.3697, 0.0]],
            &[1.0, 0.0, 0.0, 0.0, 0.0],
        ),
        (
            &[&[0.0815, 0.1924], &[0.3170, 0.1013], &[0.5580, 0.0]],
            &[0.9382, 0.0618, 0.0, 0.0, 0.0],
        ),
        (
            &[&[0.0731, 0.2742], &[0.2765, 0.1924], &[0.4306, 0.1013]],
            &[0.8819, 0.0773, 0.0407, 0.0, 0.0],
        ),
        (
            &[&[0.0656, 0.3478], &[0.2435, 0.2742], &[0.3589, 0.1924]],
            &[0.8564, 0.0844, 0.0592, 0.0, 0.0],
        ),
        (
            &[&[0.0588, 0.4139], &[0.2157, 0.3478], &[0.3089, 0.2742]],
            &[0.8418, 0.0884, 0.0697, 0.0, 0.0],
        ),
    ];
    run_scenario(&mut net, targets, |net, epoch| match epoch {
        0 => set_all(net, &[TO_S1; 3], &[3, 4]),
        1 => set_all(net, &[TO_S2, TO_S1, TO_S1], &[3, 4]),
        2 => set_all(net, &[TO_S2, TO_S2, TO_S1], &[3, 4]),
        3 => set_all(net, &[TO_S2; 3], &[3, 4]),
        _ => {}
    });
}

#[test]
fn test_yuma_3_kappa_moves_second() {
    let mut net = yuma3(&[8, 1, 1, 0, 0]);
    let targets: &Scenario = &[
        (
            &[&[0.1013, 0.0], &[0.1013, 0.0], &[0.1013, 0.0]],
            &[0.8, 0.1, 0.1, 0.0, 0.0],
        ),
        (
            &[&[0.1924, 0.0], &[0.0908, 0.2987], &[0.1924, 0.0]],
            &[0.8446, 0.0498, 0.1056, 0.0, 0.0],
        ),
        (
            &[&[0.1715, 0.1013], &[0.0815, 0.3697], &[0.4336, 0.0]],
            &[0.6868, 0.3132, 0.0, 0.0, 0.0],
        ),
        (
            &[&[0.1531, 0.1924], &[0.0731, 0.4336], &[0.3608, 0.1013]],
            &[0.7421, 0.2090, 0.0489, 0.0, 0.0],
        ),
        (
            &[&[0.1369, 0.2742], &[0.0656, 0.4910], &[0.3103, 0.1924]],
            &[0.7625, 0.1706, 0.0669, 0.0, 0.0],
        ),
        (
            &[&[0.1225, 0.3478], &[0.0588, 0.5426], &[0.2712, 0.2742]],
            &[0.7730, 0.1508, 0.0762, 0.0, 0.0],
        ),
    ];
    run_scenario(&mut net, targets, |net, epoch| match epoch {
        0 => set_all(net, &[TO_S1; 3], &[3, 4]),
        1 => set_all(net, &[TO_S1, TO_S2, TO_S1], &[3, 4]),
        2 => set_all(net, &[TO_S2, TO_S2, TO_S1], &[3, 4]),
        3 => set_all(net, &[TO_S2; 3], &[3, 4]),
        _ => {}
    });
}

#[test]
fn test_yuma_3_kappa_moves_last() {
    let mut net = yuma3(&[8, 1, 1, 0, 0]);
    let targets: &Scenario = &[
        (
            &[&[0.1013, 0.0], &[0.1013, 0.0], &[0.1013, 0.0]],
            &[0.8, 0.1, 0.1, 0.0, 0.0],
        ),
        (
            &[&[0.1924, 0.0], &[0.0908, 0.2987], &[0.1924, 0.0]],
            &[0.8446, 0.0498, 0.1056, 0.0, 0.0],
        ),
        (
            &[&[0.2742, 0.0], &[0.0815, 0.5081], &[0.1715, 0.2987]],
            &[0.8966, 0.0333, 0.0701, 0.0, 0.0],
        ),
        (
            &[&[0.2416, 0.1013], &[0.0731, 0.5580], &[0.1531, 0.3697]],
            &[0.4663, 0.3210, 0.2127, 0.0, 0.0],
        ),
        (
            &[&[0.2141, 0.1924], &[0.0656, 0.6028], &[0.1369, 0.4336]],
            &[0.5976, 0.2340, 0.1683, 0.0, 0.0],
        ),
        (
            &[&[0.1903, 0.2742], &[0.0588, 0.6430], &[0.1225, 0.4910]],
            &[0.6592, 0.1932, 0.1475, 0.0, 0.0],
        ),
    ];
    run_scenario(&mut net, targets, |net, epoch| match epoch {
        0 => set_all(net, &[TO_S1; 3], &[3, 4]),
        1 => set_all(net, &[TO_S1, TO_S2, TO_S1], &[3, 4]),
        2 => set_all(net, &[TO_S1, TO_S2, TO_S2], &[3, 4]),
        3 => set_all(net, &[TO_S2; 3], &[3, 4]),
        _ => {}
    });
}

#[test]
fn test_yuma_3_one_epoch_switch() {
    let mut net = yuma3(&[33, 33, 34, 0, 0]);
    let targets: &Scenario = &[
        (
            &[&[0.1013, 0.0], &[0.1013, 0.0], &[0.1013, 0.0]],
            &[0.33, 0.33, 0.34, 0.0, 0.0],
        ),
        (
            &[&[0.1924, 0.0], &[0.1924, 0.0], &[0.1924, 0.0]],
            &[0.33, 0.33, 0.34, 0.0, 0.0],
        ),
        (
            &[&[0.2742, 0.0], &[0.2742, 0.0], &[0.1715, 0.2987]],
            &[0.3782, 0.3782, 0.2436, 0.0, 0.0],
        ),
        (
            &[&[0.3478, 0.0], &[0.3478, 0.0], &[0.2554, 0.2618]],
            &[0.3628, 0.3628, 0.2745, 0.0, 0.0],
        ),
        (
            &[&[0.4139, 0.0], &[0.4139, 0.0], &[0.3309, 0.2312]],
            &[0.3541, 0.3541, 0.2917, 0.0, 0.0],
        ),
        (
            &[&[0.4733, 0.0], &[0.4733, 0.0], &[0.3987, 0.2051]],
            &[0.3487, 0.3487, 0.3026, 0.0, 0.0],
        ),
    ];
    run_scenario(&mut net, targets, |net, epoch| match epoch {
        2 => set_all(net, &[TO_S1, TO_S1, TO_S2], &[3, 4]),
        _ => set_all(net, &[TO_S1; 3], &[3, 4]),
    });
}

/// Upstream lists three bond columns per row for two servers (its bond check skips every
/// column, so the stale layout never failed there); the last two are the servers.
#[test]
fn test_yuma_3_liquid_alpha_disabled() {
    let mut net = yuma3(&[33, 33, 34, 0, 0]);
    net.params.liquid_alpha = false;
    let targets: &Scenario = &[
        (
            &[&[0.0250, 0.0], &[0.0250, 0.0], &[0.0250, 0.0]],
            &[0.33, 0.33, 0.34, 0.0, 0.0],
        ),
        (
            &[&[0.0494, 0.0], &[0.0494, 0.0], &[0.0494, 0.0]],
            &[0.33, 0.33, 0.34, 0.0, 0.0],
        ),
        (
            &[&[0.0731, 0.0], &[0.0731, 0.0], &[0.0481, 0.0250]],
            &[0.3734, 0.3734, 0.2532, 0.0, 0.0],
        ),
        (
            &[&[0.0963, 0.0], &[0.0963, 0.0], &[0.0719, 0.0244]],
            &[0.3611, 0.3611, 0.2779, 0.0, 0.0],
        ),
        (
            &[&[0.1189, 0.0], &[0.1189, 0.0], &[0.0951, 0.0238]],
            &[0.3541, 0.3541, 0.2919, 0.0, 0.0],
        ),
        (
            &[&[0.1409, 0.0], &[0.1409, 0.0], &[0.1178, 0.0232]],
            &[0.3495, 0.3495, 0.3009, 0.0, 0.0],
        ),
    ];
    run_scenario(&mut net, targets, |net, epoch| match epoch {
        2 => set_all(net, &[TO_S1, TO_S1, TO_S2], &[3, 4]),
        _ => set_all(net, &[TO_S1; 3], &[3, 4]),
    });
}

#[test]
fn test_yuma_3_stable_miner() {
    let mut net = yuma3(&[8, 1, 1, 0, 0, 0]);
    let half = MAX / 2;
    let a: &[u16] = &[half, 0, half];
    let b: &[u16] = &[0, half, half];
    let targets: &Scenario = &[
        (
            &[
                &[0.0507, 0.0, 0.0507],
                &[0.0507, 0.0, 0.0507],
                &[0.0507, 0.0, 0.0507],
            ],
            &[0.8, 0.1, 0.1, 0.0, 0.0, 0.0],
        ),
        (
            &[
                &[0.0962, 0.0, 0.0962],
                &[0.0455, 0.1, 0.0962],
                &[0.0962, 0.0, 0.0962],
            ],
            &[0.8226, 0.0745, 0.1028, 0.0, 0.0, 0.0],
        ),
        (
            &[
                &[0.0863, 0.0507, 0.1371],
                &[0.0408, 0.1405, 0.1371],
                &[0.1770, 0.0, 0.1371],
            ],
            &[0.7750, 0.1685, 0.0565, 0.0, 0.0, 0.0],
        ),
        (
            &[
                &[0.0774, 0.0962, 0.1739],
                &[0.0367, 0.1770, 0.1739],
                &[0.1579, 0.0507, 0.1739],
            ],
            &[0.7864, 0.1372, 0.0764, 0.0, 0.0, 0.0],
        ),
        (
            &[
                &[0.0694, 0.1371, 0.2069],
                &[0.0329, 0.2097, 0.2069],
                &[0.1411, 0.0962, 0.2069],
            ],
            &[0.7912, 0.1241, 0.0847, 0.0, 0.0, 0.0],
        ),
        (
            &[
                &[0.0623, 0.1739, 0.2366],
                &[0.0296, 0.2391, 0.2366],
                &[0.1263, 0.1371, 0.2366],
            ],
            &[0.7937, 0.1173, 0.0890, 0.0, 0.0, 0.0],
        ),
    ];
    run_scenario(&mut net, targets, |net, epoch| match epoch {
        0 => set_all(net, &[a; 3], &[3, 4, 5]),
        1 => set_all(net, &[a, b, a], &[3, 4, 5]),
        2 => set_all(net, &[b, b, a], &[3, 4, 5]),
        3 => set_all(net, &[b; 3], &[3, 4, 5]),
        _ => {}
    });
}

/// `test_yuma_3_bonds_reset`: at epoch 20 `do_reset_bonds` drops every bond on uid 3.
#[test]
fn test_yuma_3_bonds_reset() {
    let mut net = yuma3(&[8, 1, 1, 0, 0]);
    let targets: &[Checkpoint] = &[
        (
            0,
            &[&[0.1013, 0.0], &[0.1013, 0.0], &[0.1013, 0.0]],
            &[0.8, 0.1, 0.1, 0.0, 0.0],
        ),
        (
            1,
            &[&[0.1924, 0.0], &[0.0908, 0.2987], &[0.0908, 0.2987]],
            &[0.8944, 0.0528, 0.0528, 0.0, 0.0],
        ),
        (
            2,
            &[&[0.1715, 0.1013], &[0.0815, 0.3697], &[0.0815, 0.3697]],
            &[0.5230, 0.2385, 0.2385, 0.0, 0.0],
        ),
        (
            19,
            &[&[0.0269, 0.8539], &[0.0131, 0.8975], &[0.0131, 0.8975]],
            &[0.7919, 0.1040, 0.1040, 0.0, 0.0],
        ),
        (
            20,
            &[&[0.0, 0.8687], &[0.0, 0.9079], &[0.0, 0.9079]],
            &[0.7928, 0.1036, 0.1036, 0.0, 0.0],
        ),
        (
            21,
            &[&[0.0, 0.8820], &[0.2987, 0.6386], &[0.2987, 0.6386]],
            &[0.8467, 0.0766, 0.0766, 0.0, 0.0],
        ),
        (
            40,
            &[&[0.8687, 0.0578], &[0.9079, 0.0523], &[0.9079, 0.0523]],
            &[0.7928, 0.1036, 0.1036, 0.0, 0.0],
        ),
    ];
    for epoch in 0..=40 {
        match epoch {
            0 => set_all(&mut net, &[TO_S1; 3], &[3, 4]),
            1 => set_all(&mut net, &[TO_S1, TO_S2, TO_S2], &[3, 4]),
            2..=20 => {
                set_all(&mut net, &[TO_S2; 3], &[3, 4]);
                if epoch == 20 {
                    for row in net.bonds.iter_mut() {
                        row[3] = 0;
                    }
                }
            }
            21 => set_all(&mut net, &[TO_S2, TO_S1, TO_S1], &[3, 4]),
            _ => set_all(&mut net, &[TO_S1; 3], &[3, 4]),
        }
        match targets.iter().find(|t| t.0 == epoch) {
            Some((_, bonds, dividends)) => check(&mut net, epoch, bonds, dividends),
            None => {
                net.epoch(None);
            }
        }
    }
}

/// Emission is scaled in `I96F32` and floored like `saturating_to_num::<u64>()`.
#[test]
fn emission_scales_normalized_shares() {
    let mut net = Subnet::new(&[1, 1, 0, 0]);
    net.params.emission = I96F32::from_num(1_000_000_000u64);
    net.epoch(None);
    net.set_weights(0, &[2, 3], &[MAX, MAX]);
    net.set_weights(1, &[2, 3], &[MAX, MAX]);
    let out = net.epoch(None);
    let total: u64 = (0..4).map(|u| emission_u64(&out, u)).sum();
    assert!((999_999_990..=1_000_000_000).contains(&total), "{total}");
}
