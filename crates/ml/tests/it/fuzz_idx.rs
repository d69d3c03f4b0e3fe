//! Fuzzing of the IDX parsers (`parse_idx_images`, `parse_idx_labels`) and of `load_split` on
//! files, plain and gzip: arbitrary bytes and valid files with header fields and bytes
//! mutated. No input may panic; bad input is a `DataError`.
//!
//! A seeded loop (the crate has no proptest): `PROPTEST_CASES` cases, 512 by default;
//! `PROPTEST_CASES=100000 cargo test --release -p deai-ml --test it fuzz` runs longer (see
//! `docs/fuzzing.md`).

use std::io::Write;
use std::path::Path;

use deai_ml::data::{load_split, parse_idx_images, parse_idx_labels, IMAGES_MAGIC, LABELS_MAGIC};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn cases() -> u64 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// Header values worth trying: zero, small, the `u32` edges and values whose products
/// overflow.
const ODD_U32: &[u32] = &[0, 1, 2, 28, 255, 256, 65_535, 65_536, 1 << 31, u32::MAX];

fn idx_images(count: u32, rows: u32, cols: u32, pixels: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&IMAGES_MAGIC.to_be_bytes());
    for v in [count, rows, cols] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend(std::iter::repeat_n(7u8, pixels));
    b
}

fn idx_labels(count: u32, labels: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend((0..labels).map(|i| (i % 10) as u8));
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn pick(rng: &mut ChaCha8Rng) -> u32 {
    if rng.gen_bool(0.5) {
        ODD_U32[rng.gen_range(0..ODD_U32.len())]
    } else {
        rng.gen_range(0..64)
    }
}

fn mutate(mut b: Vec<u8>, rng: &mut ChaCha8Rng) -> Vec<u8> {
    for _ in 0..rng.gen_range(0..4) {
        if b.is_empty() {
            break;
        }
        let i = rng.gen_range(0..b.len());
        b[i] = rng.gen();
    }
    if rng.gen_bool(0.2) {
        b.truncate(rng.gen_range(0..=b.len()));
    }
    b
}

#[test]
fn fuzz_idx_parsers_never_panic() {
    let path = Path::new("fuzz.idx");
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    for _ in 0..cases() {
        let len = rng.gen_range(0..64);
        let random: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let _ = parse_idx_images(path, &random);
        let _ = parse_idx_labels(path, &random);

        let (count, rows, cols) = (pick(&mut rng), pick(&mut rng), pick(&mut rng));
        let pixels = rng.gen_range(0..256);
        let images = mutate(idx_images(count, rows, cols, pixels), &mut rng);
        let _ = parse_idx_images(path, &images);
        let labels = mutate(idx_labels(pick(&mut rng), rng.gen_range(0..64)), &mut rng);
        let _ = parse_idx_labels(path, &labels);
    }
}

#[test]
fn fuzz_load_split_on_plain_and_gzip_files_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let images_path = dir.path().join("images");
    let labels_path = dir.path().join("labels");
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    // File I/O per case: a quarter of the cases of the in-memory parsers.
    for _ in 0..cases().div_ceil(4) {
        let count = pick(&mut rng) % 8;
        let images = mutate(idx_images(count, 2, 2, 4 * count as usize), &mut rng);
        let labels = mutate(idx_labels(count, count as usize), &mut rng);
        let (images, labels) = match rng.gen_range(0..3) {
            0 => (images, labels),
            1 => (gzip(&images), gzip(&labels)),
            // A gzip stream with damaged bytes.
            _ => (
                mutate(gzip(&images), &mut rng),
                mutate(gzip(&labels), &mut rng),
            ),
        };
        std::fs::write(&images_path, images).unwrap();
        std::fs::write(&labels_path, labels).unwrap();
        let _ = load_split(&images_path, &labels_path);
    }
}
