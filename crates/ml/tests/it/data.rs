//! IDX loading: the shipped dataset loads, corrupted files are rejected with an error naming the
//! file and the problem.

use std::io::Write;
use std::path::Path;

use deai_ml::data::{load_dir, load_split, DataError, IMAGES_MAGIC, LABELS_MAGIC};

fn images(count: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [IMAGES_MAGIC, count, rows, cols] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend((0..count * rows * cols).map(|i| (i % 256) as u8));
    v
}

fn labels(values: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    v.extend_from_slice(&(values.len() as u32).to_be_bytes());
    v.extend_from_slice(values);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Loads one split made of the given image and label bytes; returns the error message too.
fn load(img: &[u8], lab: &[u8]) -> (Result<deai_ml::Dataset, DataError>, String) {
    let dir = tempfile::tempdir().unwrap();
    let i = write(dir.path(), "img", img);
    let l = write(dir.path(), "lab", lab);
    let r = load_split(&i, &l);
    let msg = r
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    (r, msg)
}

#[test]
fn shipped_mnist_10k_loads() {
    let s = load_dir(&crate::mnist_dir()).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (8000, 2000));
    assert_eq!((s.train.rows(), s.train.cols()), (28, 28));
    assert!(s.train.images().iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert!(s.train.images().contains(&1.0));
    // every class present (README: class counts 863–1,127 over all 10k)
    assert!(s.train.class_counts().iter().all(|&c| c > 500));
}

#[test]
fn plain_and_gzip_give_the_same_dataset() {
    let img = images(3, 4, 5);
    let lab = labels(&[0, 9, 3]);
    let (a, _) = load(&img, &lab);
    let (b, _) = load(&gz(&img), &gz(&lab));
    let a = a.unwrap();
    assert_eq!(a, b.unwrap());
    assert_eq!(a.image(1).unwrap()[0], 20.0 / 255.0);
    assert_eq!(a.labels(), &[0, 9, 3]);
}

#[test]
fn wrong_magic_is_rejected() {
    let (r, msg) = load(&labels(&[1, 2]), &labels(&[1, 2]));
    assert!(
        matches!(
            r,
            Err(DataError::WrongMagic {
                found: LABELS_MAGIC,
                ..
            })
        ),
        "{msg}"
    );
    assert!(msg.contains("img") && msg.contains("wrong magic"), "{msg}");
    let (r, msg) = load(&images(2, 2, 2), &images(2, 2, 2));
    assert!(matches!(r, Err(DataError::WrongMagic { .. })), "{msg}");
    assert!(msg.contains("lab"), "{msg}");
}

#[test]
fn truncated_files_are_rejected() {
    let img = images(3, 4, 5);
    let (r, msg) = load(&img[..img.len() - 1], &labels(&[0, 1, 2]));
    assert!(
        matches!(
            r,
            Err(DataError::Truncated {
                expected: 76,
                found: 75,
                ..
            })
        ),
        "{msg}"
    );
    assert!(msg.contains("img") && msg.contains("truncated"), "{msg}");
    // header cut short
    let (r, _) = load(&img[..10], &labels(&[0, 1, 2]));
    assert!(matches!(r, Err(DataError::Truncated { .. })));
    // truncated gzip stream
    let z = gz(&img);
    let (r, msg) = load(&z[..z.len() / 2], &labels(&[0, 1, 2]));
    assert!(
        matches!(
            r,
            Err(DataError::Gzip { .. }) | Err(DataError::Truncated { .. })
        ),
        "{msg}"
    );
    let lab = labels(&[0, 1, 2]);
    let (r, msg) = load(&img, &lab[..lab.len() - 1]);
    assert!(matches!(r, Err(DataError::Truncated { .. })), "{msg}");
    assert!(msg.contains("lab"), "{msg}");
}

#[test]
fn count_mismatches_are_rejected() {
    // more bytes than the header declares
    let mut img = images(3, 4, 5);
    img.extend_from_slice(&[0; 20]);
    let (r, msg) = load(&img, &labels(&[0, 1, 2]));
    assert!(
        matches!(r, Err(DataError::TrailingBytes { declared: 3, .. })),
        "{msg}"
    );
    assert!(msg.contains("count mismatch"), "{msg}");
    // images and labels disagree
    let (r, msg) = load(&images(3, 4, 5), &labels(&[0, 1]));
    assert!(
        matches!(
            r,
            Err(DataError::CountMismatch {
                images: 3,
                labels: 2,
                ..
            })
        ),
        "{msg}"
    );
    assert!(msg.contains("img") && msg.contains("lab"), "{msg}");
}

#[test]
fn label_out_of_range_is_rejected() {
    let (r, msg) = load(&images(3, 4, 5), &labels(&[0, 10, 2]));
    assert!(
        matches!(
            r,
            Err(DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                ..
            })
        ),
        "{msg}"
    );
    assert!(msg.contains("lab") && msg.contains("out of range"), "{msg}");
}

#[test]
fn zero_dimension_is_rejected() {
    let (r, _) = load(&images(3, 0, 5), &labels(&[0, 1, 2]));
    assert!(matches!(r, Err(DataError::BadDimensions { .. })));
}

#[test]
fn missing_file_names_what_was_tried() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "train-images-idx3-ubyte", &images(1, 2, 2));
    let err = load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("train labels") && err.contains("train-labels-idx1-ubyte.gz"),
        "{err}"
    );
}

#[test]
fn folder_with_plain_official_names_loads() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "train-images-idx3-ubyte", &images(4, 28, 28));
    write(
        dir.path(),
        "train-labels-idx1-ubyte.gz",
        &gz(&labels(&[1, 2, 3, 4])),
    );
    write(dir.path(), "t10k-images-idx3-ubyte", &images(2, 28, 28));
    write(dir.path(), "t10k-labels-idx1-ubyte", &labels(&[5, 6]));
    let s = load_dir(dir.path()).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (4, 2));
}
