//! The fused path: no per-step allocation is observable as identical results for any batch
//! slicing; here we check properties that tie it to its definition.

use deai_ml::fused::FLOPS_PER_SAMPLE;
use deai_ml::{train_local, LocalCfg, ModelKind};

#[test]
fn flop_count_matches_the_layer_sizes() {
    // forward 2·(784·200 + 200·10), input grad of layer 2 2·200·10, weight grads as forward
    assert_eq!(FLOPS_PER_SAMPLE, 2 * 158_800 + 2 * 2_000 + 2 * 158_800);
}

#[test]
fn same_seed_same_result_other_seed_other_order() {
    let data = &crate::mnist().train;
    let idx: Vec<usize> = (0..200).collect();
    let g = ModelKind::Mlp.init(0);
    let cfg = LocalCfg::default();
    let a = train_local(&g, data, &idx, &cfg, 1).unwrap();
    assert_eq!(a, train_local(&g, data, &idx, &cfg, 1).unwrap());
    assert_ne!(
        a.params,
        train_local(&g, data, &idx, &cfg, 2).unwrap().params
    );
}

#[test]
fn weight_decay_alone_shrinks_weights_by_the_pytorch_factor() {
    // With lr·wd = 0.5 and a sample whose gradient is zero in some coordinates, those weights
    // become (1 − lr·wd)·w. An image whose pixels all equal the standardisation mean enters the
    // model as zeros, which zeroes the gradient of every W1 entry.
    let s = crate::mnist();
    let mut data = s.train.subset(&[0]).unwrap();
    data.images_mut()
        .iter_mut()
        .for_each(|p| *p = deai_ml::params::INPUT_MEAN);
    let g = ModelKind::Mlp.init(4);
    let cfg = LocalCfg {
        lr: 0.5,
        weight_decay: 1.0,
        ..LocalCfg::default()
    };
    let out = train_local(&g, &data, &[0], &cfg, 0).unwrap();
    assert!(out.params[..156_800]
        .iter()
        .zip(&g)
        .all(|(n, o)| *n == 0.5 * o));
}
