//! MNIST-format datasets: IDX files (gzip-compressed or plain) and the in-memory [`Dataset`].
//!
//! An IDX file is a big-endian header followed by raw `u8` items:
//!
//! | file | magic | header after the magic | payload |
//! |---|---|---|---|
//! | images | `0x00000803` | count, rows, cols (`u32` each) | `count × rows × cols` pixels, row-major |
//! | labels | `0x00000801` | count (`u32`) | `count` labels, each `< 10` |
//!
//! A folder holds four such files: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `test-images-idx3-ubyte` and `test-labels-idx1-ubyte`, each optionally with a `.gz` suffix
//! (the official MNIST names `t10k-…` are accepted for the test split). Gzip is recognised by
//! its magic bytes, not by the file name. Every problem — wrong magic, truncated payload,
//! trailing bytes after the declared count, a label outside `0..10`, different image and label
//! counts — is a [`DataError`] naming the file.
//!
//! Reading is bounded by the header: a file is read (and decompressed) only up to the size its
//! header declares plus one byte, so a small gzip stream that inflates to gigabytes is refused
//! after the declared size, and a header may declare at most [`MAX_IDX_BYTES`].
//!
//! Pixels are scaled to `f32` in `[0, 1]` (`u8 / 255`); the models standardise them on the fly
//! ([`crate::params::standardize`]), so a dataset always holds raw `[0, 1]` pixels.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Number of classes of every MNIST-format dataset.
pub const CLASSES: usize = 10;
/// Magic number of an IDX image file (`u8` items, 3 dimensions).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX label file (`u8` items, 1 dimension).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Largest IDX file (header included, after decompression) a header may declare: 1 GiB, about
/// 1.3 million 28×28 images (the full MNIST training file is 47 MB).
pub const MAX_IDX_BYTES: usize = 1 << 30;

/// What was wrong with a dataset file or folder.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file starts with the gzip magic but does not decompress.
    #[error("{path}: corrupt gzip stream: {source}")]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file does not start with the expected IDX magic number.
    #[error("{path}: wrong magic number {found:#010x}, expected {expected:#010x} ({what})")]
    WrongMagic {
        /// The file.
        path: PathBuf,
        /// The magic number found.
        found: u32,
        /// The magic number accepted here.
        expected: u32,
        /// "images" or "labels".
        what: &'static str,
    },
    /// The file is shorter than its header says.
    #[error(
        "{path}: truncated: the header declares {expected} bytes in total but the file has {found}"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header implies.
        expected: usize,
        /// Bytes present (after decompression).
        found: usize,
    },
    /// The file is longer than its header says.
    #[error("{path}: count mismatch: the header declares {declared} items ({expected} bytes in total) but the file has {found} bytes")]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Item count in the header.
        declared: usize,
        /// Bytes the header implies.
        expected: usize,
        /// Bytes present (after decompression).
        found: usize,
    },
    /// The header declares a file larger than [`MAX_IDX_BYTES`].
    #[error(
        "{path}: the header declares {declared} bytes in total, more than the {limit} accepted"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Bytes the header implies (saturated at `usize::MAX` when the product overflows).
        declared: usize,
        /// The limit, [`MAX_IDX_BYTES`].
        limit: usize,
    },
    /// A gzip stream inflates to more than its header declares (reading stopped there).
    #[error("{path}: count mismatch: the header declares {declared} items ({expected} bytes in total) but the decompressed file is longer (reading stopped after {expected} bytes)")]
    Oversized {
        /// The file.
        path: PathBuf,
        /// Item count in the header.
        declared: usize,
        /// Bytes the header implies.
        expected: usize,
    },
    /// An image dimension is zero.
    #[error("{path}: image dimensions {rows}x{cols} are invalid (both must be positive)")]
    BadDimensions {
        /// The file.
        path: PathBuf,
        /// Declared rows.
        rows: usize,
        /// Declared columns.
        cols: usize,
    },
    /// A label is not a class index.
    #[error("{path}: label {label} at index {index} is out of range (accepted: 0..{classes})")]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// Position of the bad label.
        index: usize,
        /// The bad label.
        label: u8,
        /// Number of classes.
        classes: usize,
    },
    /// The image and label files of one split hold different numbers of samples.
    #[error("{images_path} holds {images} images but {labels_path} holds {labels} labels")]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// Its image count.
        images: usize,
        /// The label file.
        labels_path: PathBuf,
        /// Its label count.
        labels: usize,
    },
    /// None of the accepted names of a file exists in the folder.
    #[error("{dir}: no {what} file (looked for {tried})")]
    Missing {
        /// The folder.
        dir: PathBuf,
        /// Which file.
        what: &'static str,
        /// The names tried.
        tried: String,
    },
    /// An in-memory dataset was built from inconsistent parts.
    #[error("invalid dataset: {reason}")]
    Invalid {
        /// What is inconsistent.
        reason: String,
    },
}

/// Labelled images in memory: `len()` samples of `rows × cols` pixels in `[0, 1]`, row-major,
/// and one class label `< 10` per sample.
///
/// Actors that tamper with data (label flipping, backdoor triggers) clone a dataset and edit it
/// through [`Dataset::labels_mut`] and [`Dataset::images_mut`]; training reads whatever it is
/// given.
#[derive(Debug, Clone)]
pub struct Dataset {
    images: Vec<f32>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
    /// `standardize` of every pixel, computed on first use by [`Dataset::standardized`] (the
    /// fused training path gathers batches from it); cleared by [`Dataset::images_mut`].
    standardized: OnceLock<Vec<f32>>,
}

/// Equality of the samples (the standardised cache is derived data and not compared).
impl PartialEq for Dataset {
    fn eq(&self, other: &Self) -> bool {
        self.images == other.images
            && self.labels == other.labels
            && self.rows == other.rows
            && self.cols == other.cols
    }
}

impl Dataset {
    /// Builds a dataset, checking that `images.len() == labels.len() × rows × cols`, that both
    /// dimensions are positive and that every label is `< 10`.
    pub fn new(
        images: Vec<f32>,
        labels: Vec<u8>,
        rows: usize,
        cols: usize,
    ) -> Result<Self, DataError> {
        if rows == 0 || cols == 0 {
            return Err(DataError::Invalid {
                reason: format!("image dimensions {rows}x{cols} must be positive"),
            });
        }
        let expected = labels.len().checked_mul(rows * cols);
        if expected != Some(images.len()) {
            return Err(DataError::Invalid {
                reason: format!(
                    "{} pixels for {} labels of {rows}x{cols} images (expected {})",
                    images.len(),
                    labels.len(),
                    labels.len() * rows * cols
                ),
            });
        }
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| usize::from(l) >= CLASSES)
        {
            return Err(DataError::Invalid {
                reason: format!("label {label} at index {index} is not in 0..{CLASSES}"),
            });
        }
        Ok(Self {
            images,
            labels,
            rows,
            cols,
            standardized: OnceLock::new(),
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image height.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Image width.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Pixels per image (`rows × cols`).
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// All pixels, sample after sample.
    pub fn images(&self) -> &[f32] {
        &self.images
    }

    /// All labels.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The pixels of sample `i`, or `None` if out of range.
    pub fn image(&self, i: usize) -> Option<&[f32]> {
        let p = self.pixels();
        self.images.get(i * p..(i + 1) * p)
    }

    /// All pixels standardised as the models see them ([`crate::params::standardize`]),
    /// computed once on first use (the same layout as [`Dataset::images`]).
    pub fn standardized(&self) -> &[f32] {
        self.standardized.get_or_init(|| {
            let mut out = vec![0.0; self.images.len()];
            crate::params::standardize_into(&mut out, &self.images);
            out
        })
    }

    /// Mutable pixels (e.g. to stamp a backdoor trigger on a copy).
    pub fn images_mut(&mut self) -> &mut [f32] {
        self.standardized = OnceLock::new();
        &mut self.images
    }

    /// Mutable labels (e.g. to flip labels on a copy). Training rejects labels `>= 10`.
    pub fn labels_mut(&mut self) -> &mut [u8] {
        &mut self.labels
    }

    /// A new dataset holding the samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Result<Self, DataError> {
        let p = self.pixels();
        let mut images = Vec::with_capacity(indices.len() * p);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let image = self.image(i).ok_or_else(|| DataError::Invalid {
                reason: format!("index {i} out of range for {} samples", self.len()),
            })?;
            images.extend_from_slice(image);
            labels.push(self.labels[i]);
        }
        Ok(Self {
            images,
            labels,
            rows: self.rows,
            cols: self.cols,
            standardized: OnceLock::new(),
        })
    }

    /// Number of samples of each class.
    pub fn class_counts(&self) -> [usize; CLASSES] {
        let mut counts = [0; CLASSES];
        for &l in &self.labels {
            counts[usize::from(l) % CLASSES] += 1;
        }
        counts
    }
}

/// The train and test splits of one folder.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Training samples.
    pub train: Dataset,
    /// Held-out samples.
    pub test: Dataset,
}

/// Total bytes (header included) and item count an IDX header declares, if `head` holds a
/// whole header with a known magic; `None` leaves the error to the parser.
fn declared_size(head: &[u8]) -> Option<(usize, usize)> {
    let field = |at| be_u32(head, at).map(|v| v as usize);
    match be_u32(head, 0)? {
        IMAGES_MAGIC => {
            let count = field(4)?;
            let total = count
                .checked_mul(field(8)?)
                .and_then(|v| v.checked_mul(field(12)?))
                .and_then(|v| v.checked_add(16))
                .unwrap_or(usize::MAX);
            Some((total, count))
        }
        LABELS_MAGIC => {
            let count = field(4)?;
            Some((count.saturating_add(8), count))
        }
        _ => None,
    }
}

/// Reads a file, gunzipping it if it starts with the gzip magic `1f 8b`, no further than the
/// size its IDX header declares plus one byte: a longer plain file is [`DataError::TrailingBytes`]
/// (its length known from the file system), a longer gzip stream [`DataError::Oversized`], and a
/// header declaring more than [`MAX_IDX_BYTES`] is [`DataError::TooLarge`]. A short file or an
/// unknown magic is returned as read for the parser to name the problem.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    let mut file = std::io::BufReader::new(file);
    let gzip = file.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn Read> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let read_err = |source| {
        if gzip {
            DataError::Gzip {
                path: path.to_owned(),
                source,
            }
        } else {
            DataError::Io {
                path: path.to_owned(),
                source,
            }
        }
    };
    let mut out = Vec::new();
    reader
        .by_ref()
        .take(16)
        .read_to_end(&mut out)
        .map_err(read_err)?;
    let Some((expected, declared)) = declared_size(&out) else {
        return Ok(out);
    };
    if expected > MAX_IDX_BYTES {
        return Err(DataError::TooLarge {
            path: path.to_owned(),
            declared: expected,
            limit: MAX_IDX_BYTES,
        });
    }
    if !gzip && file_len > expected as u64 {
        return Err(DataError::TrailingBytes {
            path: path.to_owned(),
            declared,
            expected,
            found: usize::try_from(file_len).unwrap_or(usize::MAX),
        });
    }
    // The header may be shorter than 16 bytes (labels) and already read past: read what is
    // left of the declared size, plus one byte to notice a longer stream.
    let rest = (expected + 1).saturating_sub(out.len());
    // Grown as the bytes arrive beyond 64 MiB: a header alone commits no memory.
    out.reserve(rest.min(1 << 26));
    reader
        .take(rest as u64)
        .read_to_end(&mut out)
        .map_err(read_err)?;
    if out.len() > expected {
        return Err(DataError::Oversized {
            path: path.to_owned(),
            declared,
            expected,
        });
    }
    Ok(out)
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn check_magic(
    path: &Path,
    bytes: &[u8],
    expected: u32,
    what: &'static str,
) -> Result<(), DataError> {
    match be_u32(bytes, 0) {
        None => Err(DataError::Truncated {
            path: path.to_owned(),
            expected: 4,
            found: bytes.len(),
        }),
        Some(found) if found != expected => Err(DataError::WrongMagic {
            path: path.to_owned(),
            found,
            expected,
            what,
        }),
        Some(_) => Ok(()),
    }
}

fn check_len(path: &Path, found: usize, declared: usize, expected: usize) -> Result<(), DataError> {
    if found < expected {
        Err(DataError::Truncated {
            path: path.to_owned(),
            expected,
            found,
        })
    } else if found > expected {
        Err(DataError::TrailingBytes {
            path: path.to_owned(),
            declared,
            expected,
            found,
        })
    } else {
        Ok(())
    }
}

/// IDX images parsed from bytes: `(pixels as u8, count, rows, cols)`. `path` only names errors.
pub fn parse_idx_images(
    path: &Path,
    bytes: &[u8],
) -> Result<(Vec<u8>, usize, usize, usize), DataError> {
    check_magic(path, bytes, IMAGES_MAGIC, "images")?;
    let header = |at| {
        be_u32(bytes, at)
            .map(|v| v as usize)
            .ok_or(DataError::Truncated {
                path: path.to_owned(),
                expected: 16,
                found: bytes.len(),
            })
    };
    let (count, rows, cols) = (header(4)?, header(8)?, header(12)?);
    if rows == 0 || cols == 0 {
        return Err(DataError::BadDimensions {
            path: path.to_owned(),
            rows,
            cols,
        });
    }
    let expected = count
        .checked_mul(rows)
        .and_then(|v| v.checked_mul(cols))
        .and_then(|v| v.checked_add(16))
        .unwrap_or(usize::MAX);
    check_len(path, bytes.len(), count, expected)?;
    Ok((bytes[16..].to_vec(), count, rows, cols))
}

/// IDX labels parsed from bytes, each checked to be `< 10`. `path` only names errors.
pub fn parse_idx_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    check_magic(path, bytes, LABELS_MAGIC, "labels")?;
    let count = be_u32(bytes, 4)
        .map(|v| v as usize)
        .ok_or(DataError::Truncated {
            path: path.to_owned(),
            expected: 8,
            found: bytes.len(),
        })?;
    let expected = count.saturating_add(8);
    check_len(path, bytes.len(), count, expected)?;
    let labels = bytes[8..].to_vec();
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= CLASSES)
    {
        return Err(DataError::LabelOutOfRange {
            path: path.to_owned(),
            index,
            label,
            classes: CLASSES,
        });
    }
    Ok(labels)
}

/// Loads one split from an image file and a label file.
pub fn load_split(images_path: &Path, labels_path: &Path) -> Result<Dataset, DataError> {
    let (pixels, count, rows, cols) = parse_idx_images(images_path, &read_maybe_gz(images_path)?)?;
    let labels = parse_idx_labels(labels_path, &read_maybe_gz(labels_path)?)?;
    if labels.len() != count {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_owned(),
            images: count,
            labels_path: labels_path.to_owned(),
            labels: labels.len(),
        });
    }
    let images = pixels.into_iter().map(|p| f32::from(p) / 255.0).collect();
    Ok(Dataset {
        images,
        labels,
        rows,
        cols,
        standardized: OnceLock::new(),
    })
}

/// The first existing file among `stems` × {"", ".gz"} in `dir`.
fn find_file(dir: &Path, stems: &[&str], what: &'static str) -> Result<PathBuf, DataError> {
    let mut tried = Vec::new();
    for stem in stems {
        for suffix in ["", ".gz"] {
            let name = format!("{stem}{suffix}");
            let path = dir.join(&name);
            if path.is_file() {
                return Ok(path);
            }
            tried.push(name);
        }
    }
    Err(DataError::Missing {
        dir: dir.to_owned(),
        what,
        tried: tried.join(", "),
    })
}

/// Loads the train and test splits of an MNIST-format folder (see the module docs for names).
pub fn load_dir(dir: &Path) -> Result<Splits, DataError> {
    let train_images = find_file(
        dir,
        &["train-images-idx3-ubyte", "train-images.idx3-ubyte"],
        "train images",
    )?;
    let train_labels = find_file(
        dir,
        &["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
        "train labels",
    )?;
    let test_images = find_file(
        dir,
        &[
            "test-images-idx3-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-images.idx3-ubyte",
        ],
        "test images",
    )?;
    let test_labels = find_file(
        dir,
        &[
            "test-labels-idx1-ubyte",
            "t10k-labels-idx1-ubyte",
            "t10k-labels.idx1-ubyte",
        ],
        "test labels",
    )?;
    Ok(Splits {
        train: load_split(&train_images, &train_labels)?,
        test: load_split(&test_images, &test_labels)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images_bytes(count: u32, rows: u32, cols: u32, fill: u8) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&IMAGES_MAGIC.to_be_bytes());
        for x in [count, rows, cols] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend(std::iter::repeat_n(fill, (count * rows * cols) as usize));
        v
    }

    #[test]
    fn parses_images_and_rejects_trailing_bytes() {
        let p = Path::new("x");
        let bytes = images_bytes(3, 2, 2, 7);
        let (px, n, r, c) = parse_idx_images(p, &bytes).unwrap();
        assert_eq!((px.len(), n, r, c), (12, 3, 2, 2));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            parse_idx_images(p, &longer),
            Err(DataError::TrailingBytes { declared: 3, .. })
        ));
        assert!(matches!(
            parse_idx_images(p, &bytes[..10]),
            Err(DataError::Truncated { .. })
        ));
    }

    #[test]
    fn dataset_new_validates() {
        assert!(Dataset::new(vec![0.0; 8], vec![1, 2], 2, 2).is_ok());
        assert!(Dataset::new(vec![0.0; 7], vec![1, 2], 2, 2).is_err());
        assert!(Dataset::new(vec![0.0; 8], vec![1, 10], 2, 2).is_err());
    }
}
