//! IDX reading stops at the size the header declares: a gzip bomb is refused without inflating
//! it, and a header may not declare more than `MAX_IDX_BYTES`.

use std::io::Write;
use std::time::{Duration, Instant};

use deai_ml::data::{load_split, DataError, IMAGES_MAGIC, LABELS_MAGIC, MAX_IDX_BYTES};

fn header(magic: u32, dims: &[u32]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v
}

fn labels(n: u8) -> Vec<u8> {
    let mut v = header(LABELS_MAGIC, &[u32::from(n)]);
    v.extend((0..n).map(|i| i % 10));
    v
}

#[test]
fn a_gzip_bomb_is_refused_after_the_declared_size() {
    let dir = tempfile::tempdir().unwrap();
    // A valid header declaring 10 images of 28×28 (7,856 bytes in all), then 100 MB of zeros:
    // about 100 KB compressed.
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&header(IMAGES_MAGIC, &[10, 28, 28])).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..100 {
        z.write_all(&zeros).unwrap();
    }
    let bomb = z.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let images = dir.path().join("img.gz");
    std::fs::write(&images, &bomb).unwrap();
    let lab = dir.path().join("lab");
    std::fs::write(&lab, labels(10)).unwrap();

    let started = Instant::now();
    let err = load_split(&images, &lab).unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            DataError::Oversized {
                declared: 10,
                expected: 7856,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("img.gz"), "{err}");
    // Inflating the whole 100 MB would take a while; stopping after 7,857 bytes does not.
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[test]
fn a_header_declaring_more_than_the_limit_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("lab");
    std::fs::write(&lab, labels(3)).unwrap();
    // count × rows × cols overflows nothing here but exceeds 1 GiB; the last one overflows
    // u32 arithmetic and, with the +16 of the header, would overflow on 32-bit too.
    for dims in [[2_000_000, 28, 28], [u32::MAX, u32::MAX, u32::MAX]] {
        for gzip in [false, true] {
            let mut bytes = header(IMAGES_MAGIC, &dims);
            bytes.extend_from_slice(&[0; 64]);
            if gzip {
                let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                z.write_all(&bytes).unwrap();
                bytes = z.finish().unwrap();
            }
            let images = dir.path().join("img");
            std::fs::write(&images, &bytes).unwrap();
            match load_split(&images, &lab) {
                Err(DataError::TooLarge { limit, .. }) => assert_eq!(limit, MAX_IDX_BYTES),
                other => panic!("{dims:?} gzip={gzip}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_label_file_longer_than_declared_is_refused_plain_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("img");
    let mut img = header(IMAGES_MAGIC, &[3, 2, 2]);
    img.extend_from_slice(&[1; 12]);
    std::fs::write(&images, &img).unwrap();
    let mut lab = labels(3);
    lab.extend_from_slice(&[1; 20]);
    let plain = dir.path().join("lab");
    std::fs::write(&plain, &lab).unwrap();
    assert!(matches!(
        load_split(&images, &plain),
        Err(DataError::TrailingBytes {
            declared: 3,
            expected: 11,
            found: 31,
            ..
        })
    ));
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&lab).unwrap();
    let gz = dir.path().join("lab.gz");
    std::fs::write(&gz, z.finish().unwrap()).unwrap();
    assert!(matches!(
        load_split(&images, &gz),
        Err(DataError::Oversized {
            declared: 3,
            expected: 11,
            ..
        })
    ));
    // The exact sizes load.
    std::fs::write(&plain, labels(3)).unwrap();
    assert_eq!(load_split(&images, &plain).unwrap().len(), 3);
}
