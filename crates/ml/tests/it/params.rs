//! Flat parameters: safetensors round trip is bit-exact; bad files are rejected; updates hash.

use deai_ml::params::{from_safetensors, load, save, to_safetensors, Update};
use deai_ml::{MlError, ModelKind};

fn awkward_values(kind: ModelKind) -> Vec<f32> {
    let mut p = kind.init(11);
    // values that a lossy round trip would change
    let specials = [
        -0.0,
        f32::MIN_POSITIVE / 3.0,
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        f32::NAN,
        1.0 + f32::EPSILON,
    ];
    for (i, v) in specials.iter().enumerate() {
        p[i * 97] = *v;
    }
    p
}

#[test]
fn safetensors_round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    for kind in [ModelKind::Mlp, ModelKind::Cnn] {
        let p = awkward_values(kind);
        let path = dir.path().join(format!("{kind}.safetensors"));
        save(&path, kind, &p).unwrap();
        let (k, q) = load(&path).unwrap();
        assert_eq!(k, kind);
        assert_eq!(p.len(), q.len());
        assert!(p.iter().zip(&q).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[test]
fn safetensors_file_has_named_tensors() {
    let p = ModelKind::Mlp.init(0);
    let bytes = to_safetensors(ModelKind::Mlp, &p).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w = st.tensor("fc1.weight").unwrap();
    assert_eq!(w.shape(), &[200, 784]);
    let first = f32::from_le_bytes(w.data()[..4].try_into().unwrap());
    assert_eq!(first, p[0]);
    let b2 = st.tensor("fc2.bias").unwrap();
    assert_eq!(b2.shape(), &[10]);
}

#[test]
fn bad_parameter_files_are_rejected() {
    let path = std::path::Path::new("x.safetensors");
    assert!(matches!(
        to_safetensors(ModelKind::Mlp, &[0.0; 5]),
        Err(MlError::ParamLen { got: 5, .. })
    ));
    assert!(matches!(
        from_safetensors(path, b"not a safetensors file"),
        Err(MlError::Safetensors { .. })
    ));
    // a CNN tensor set labelled as an MLP
    let mut bytes = to_safetensors(ModelKind::Cnn, &ModelKind::Cnn.init(0)).unwrap();
    let pos = bytes.windows(5).position(|w| w == b"\"cnn\"").unwrap();
    bytes[pos + 1..pos + 4].copy_from_slice(b"mlp");
    let err = from_safetensors(path, &bytes).unwrap_err().to_string();
    assert!(
        err.contains("x.safetensors") && err.contains("fc1.weight"),
        "{err}"
    );
}

#[test]
fn update_is_difference_with_hash() {
    let old = ModelKind::Mlp.init(1);
    let new = ModelKind::Mlp.init(2);
    let u = Update::between(&old, &new).unwrap();
    assert!(u
        .delta
        .iter()
        .zip(old.iter().zip(&new))
        .all(|(d, (o, n))| *d == n - o));
    let bytes: Vec<u8> = u.delta.iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(u.hash, *blake3::hash(&bytes).as_bytes());
    assert_eq!(u.hash_hex().len(), 64);
    assert!(Update::between(&old, &new[1..]).is_err());
}
