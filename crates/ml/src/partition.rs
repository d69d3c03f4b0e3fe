//! Seeded partitions of a training set over federated clients.
//!
//! A [`PartitionSpec`] is parsed from a short string:
//!
//! | spec | meaning |
//! |---|---|
//! | `iid` | shuffle all samples and deal them into near-equal parts (sizes differ by at most one) |
//! | `dirichlet:<alpha>` | label skew (Hsu et al. 2019, as in NIID-Bench): for each class draw client proportions `p ~ Dir(alpha)` and split that class's samples accordingly; a client already holding `n/N` samples gets no more; redrawn until every client has at least `min(10, n/N)` samples |
//! | `shards:<k>` | pathological non-IID (McMahan et al. 2017): sort by label, cut into `k × N` contiguous shards of near-equal size, give each client `k` random shards |
//! | `quantity:<beta>` | quantity skew (NIID-Bench): over an IID shuffle, every client gets `min(10, n/N)` samples and the rest is split in proportions `q ~ Dir(beta)` |
//!
//! Every sample goes to exactly one client; each client's indices are sorted ascending. The
//! result depends only on (labels, number of clients, spec, seed): the generator is ChaCha8
//! seeded by [`crate::seed::derive`] with domain `"partition"`.

use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};

use crate::data::CLASSES;
use crate::seed;

/// What was wrong with a partition request.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// The spec string does not parse.
    #[error("invalid partition {spec:?}: {reason} (accepted: iid, dirichlet:<alpha > 0>, shards:<k >= 1>, quantity:<beta > 0>)")]
    BadSpec {
        /// The string given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The dataset cannot be split that way.
    #[error("cannot partition {samples} samples over {clients} clients with {spec}: {reason}")]
    Infeasible {
        /// Number of samples.
        samples: usize,
        /// Number of clients.
        clients: usize,
        /// The spec.
        spec: String,
        /// Why.
        reason: String,
    },
    /// Client index lists given from outside do not cover the samples exactly once.
    #[error("client index lists do not partition {samples} samples: {reason} (accepted: every index in 0..{samples} exactly once over all clients, at least one client)")]
    NotAPartition {
        /// Number of samples.
        samples: usize,
        /// What is wrong.
        reason: String,
    },
}

/// How samples are spread over clients (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PartitionSpec {
    /// Uniformly at random, equal sizes.
    Iid,
    /// Dirichlet label skew with concentration `alpha` (smaller = more skewed).
    Dirichlet {
        /// Concentration, `> 0`.
        alpha: f64,
    },
    /// `per_client` label-sorted shards per client.
    Shards {
        /// Shards per client, `>= 1`.
        per_client: usize,
    },
    /// Dirichlet quantity skew with concentration `beta`.
    Quantity {
        /// Concentration, `> 0`.
        beta: f64,
    },
}

impl fmt::Display for PartitionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Iid => write!(f, "iid"),
            Self::Dirichlet { alpha } => write!(f, "dirichlet:{alpha}"),
            Self::Shards { per_client } => write!(f, "shards:{per_client}"),
            Self::Quantity { beta } => write!(f, "quantity:{beta}"),
        }
    }
}

impl FromStr for PartitionSpec {
    type Err = PartitionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| PartitionError::BadSpec {
            spec: s.to_owned(),
            reason,
        };
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (s.trim(), None),
        };
        let positive = |name: &str| -> Result<f64, PartitionError> {
            let a = arg.ok_or_else(|| bad(format!("{kind} needs a parameter, e.g. {kind}:0.5")))?;
            let v: f64 = a
                .parse()
                .map_err(|_| bad(format!("{name} {a:?} is not a number")))?;
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(bad(format!("{name} must be a finite number > 0, got {v}")))
            }
        };
        match kind.to_ascii_lowercase().as_str() {
            "iid" => match arg {
                None => Ok(Self::Iid),
                Some(a) => Err(bad(format!("iid takes no parameter, got {a:?}"))),
            },
            "dirichlet" | "dir" => Ok(Self::Dirichlet {
                alpha: positive("alpha")?,
            }),
            "quantity" => Ok(Self::Quantity {
                beta: positive("beta")?,
            }),
            "shards" => {
                let a = arg.ok_or_else(|| bad("shards needs a count, e.g. shards:2".into()))?;
                let k: usize = a
                    .parse()
                    .map_err(|_| bad(format!("shard count {a:?} is not a positive integer")))?;
                if k == 0 {
                    return Err(bad("shard count must be >= 1".into()));
                }
                Ok(Self::Shards { per_client: k })
            }
            other => Err(bad(format!("unknown kind {other:?}"))),
        }
    }
}

/// Indices of the training samples held by each client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// `clients[c]` = sorted sample indices of client `c`.
    pub clients: Vec<Vec<usize>>,
}

/// Samples and label histogram of one client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSummary {
    /// Client number.
    pub client: usize,
    /// Number of samples.
    pub samples: usize,
    /// Samples per class.
    pub histogram: [usize; CLASSES],
}

/// Per-client sizes and label histograms of a partition, plus a skew measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionSummary {
    /// The spec that produced it.
    pub spec: String,
    /// The seed.
    pub seed: u64,
    /// One entry per client.
    pub clients: Vec<ClientSummary>,
    /// Mean over clients (weighted by samples) of the total-variation distance between the
    /// client's label distribution and the whole set's: 0 for identical mixes, 1 for disjoint.
    pub label_skew: f64,
}

impl Partition {
    /// A partition from explicit per-client index lists (e.g. read from a file), checked to
    /// cover `0..samples` exactly once; each client's indices are sorted.
    pub fn from_clients(
        mut clients: Vec<Vec<usize>>,
        samples: usize,
    ) -> Result<Self, PartitionError> {
        let bad = |reason: String| PartitionError::NotAPartition { samples, reason };
        if clients.is_empty() {
            return Err(bad("no clients".into()));
        }
        let mut seen = vec![false; samples];
        for (c, idx) in clients.iter_mut().enumerate() {
            idx.sort_unstable();
            for &i in idx.iter() {
                match seen.get_mut(i) {
                    None => return Err(bad(format!("client {c} holds index {i}, out of range"))),
                    Some(true) => return Err(bad(format!("index {i} is assigned twice"))),
                    Some(s) => *s = true,
                }
            }
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(bad(format!("index {i} is assigned to no client")));
        }
        Ok(Self { clients })
    }

    /// Number of clients.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether there are no clients.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Sizes and label histograms, given the labels the indices refer to.
    pub fn summary(&self, labels: &[u8], spec: &PartitionSpec, seed: u64) -> PartitionSummary {
        let mut total = [0usize; CLASSES];
        let clients: Vec<ClientSummary> = self
            .clients
            .iter()
            .enumerate()
            .map(|(client, idx)| {
                let mut histogram = [0usize; CLASSES];
                for &i in idx {
                    if let Some(&l) = labels.get(i) {
                        histogram[usize::from(l) % CLASSES] += 1;
                    }
                }
                for (t, h) in total.iter_mut().zip(histogram) {
                    *t += h;
                }
                ClientSummary {
                    client,
                    samples: idx.len(),
                    histogram,
                }
            })
            .collect();
        let n: usize = total.iter().sum();
        let mut skew = 0.0;
        if n > 0 {
            for c in &clients {
                if c.samples == 0 {
                    continue;
                }
                let tv: f64 = (0..CLASSES)
                    .map(|k| {
                        (c.histogram[k] as f64 / c.samples as f64 - total[k] as f64 / n as f64)
                            .abs()
                    })
                    .sum::<f64>()
                    / 2.0;
                skew += tv * c.samples as f64 / n as f64;
            }
        }
        PartitionSummary {
            spec: spec.to_string(),
            seed,
            clients,
            label_skew: skew,
        }
    }
}

impl fmt::Display for PartitionSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "partition {} (seed {}), label skew {:.3}",
            self.spec, self.seed, self.label_skew
        )?;
        write!(f, "{:>6} {:>7} |", "client", "samples")?;
        for k in 0..CLASSES {
            write!(f, " {k:>5}")?;
        }
        writeln!(f)?;
        for c in &self.clients {
            write!(f, "{:>6} {:>7} |", c.client, c.samples)?;
            for h in c.histogram {
                write!(f, " {h:>5}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Splits `0..n` into `parts` contiguous ranges whose sizes differ by at most one.
fn even_bounds(n: usize, parts: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..parts).map(move |p| (p * n / parts)..((p + 1) * n / parts))
}

/// Draws a Dirichlet(`alpha`, …) vector of length `k` by normalising Gamma draws.
fn dirichlet<R: Rng>(rng: &mut R, alpha: f64, k: usize) -> Option<Vec<f64>> {
    let gamma = Gamma::new(alpha, 1.0).ok()?;
    for _ in 0..100 {
        let v: Vec<f64> = (0..k).map(|_| gamma.sample(rng)).collect();
        let s: f64 = v.iter().sum();
        if s > 0.0 && s.is_finite() {
            return Some(v.into_iter().map(|x| x / s).collect());
        }
    }
    None
}

/// Cuts `idx` into consecutive pieces with the given proportions (cumulative rounding, so sizes
/// add up exactly).
fn split_by(idx: &[usize], proportions: &[f64]) -> Vec<Vec<usize>> {
    let n = idx.len();
    let mut out = Vec::with_capacity(proportions.len());
    let mut cum = 0.0;
    let mut start = 0;
    for (j, p) in proportions.iter().enumerate() {
        cum += p;
        let end = if j + 1 == proportions.len() {
            n
        } else {
            ((cum * n as f64).floor() as usize).clamp(start, n)
        };
        out.push(idx[start..end].to_vec());
        start = end;
    }
    out
}

const MAX_REDRAWS: usize = 1000;

/// Partitions samples with the given `labels` over `clients` clients.
pub fn partition(
    labels: &[u8],
    clients: usize,
    spec: &PartitionSpec,
    seed: u64,
) -> Result<Partition, PartitionError> {
    let n = labels.len();
    let infeasible = |reason: String| PartitionError::Infeasible {
        samples: n,
        clients,
        spec: spec.to_string(),
        reason,
    };
    if clients == 0 {
        return Err(infeasible("need at least one client".into()));
    }
    if n < clients {
        return Err(infeasible("fewer samples than clients".into()));
    }
    let mut rng = seed::rng(seed, "partition", &[]);
    let min_size = (n / clients).min(10);
    let mut parts: Vec<Vec<usize>> = match *spec {
        PartitionSpec::Iid => {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.shuffle(&mut rng);
            even_bounds(n, clients).map(|r| idx[r].to_vec()).collect()
        }
        PartitionSpec::Quantity { beta } => {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.shuffle(&mut rng);
            let q =
                dirichlet(&mut rng, beta, clients).ok_or_else(|| infeasible("bad beta".into()))?;
            // Every client first gets `min_size` samples; the rest is split by `q`.
            let (head, tail) = idx.split_at(min_size * clients);
            head.chunks(min_size.max(1))
                .map(<[usize]>::to_vec)
                .chain(std::iter::repeat_with(Vec::new))
                .take(clients)
                .zip(split_by(tail, &q))
                .map(|(mut a, b)| {
                    a.extend(b);
                    a
                })
                .collect()
        }
        PartitionSpec::Dirichlet { alpha } => {
            let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); CLASSES];
            for (i, &l) in labels.iter().enumerate() {
                by_class[usize::from(l) % CLASSES].push(i);
            }
            let cap = n as f64 / clients as f64;
            let mut found = None;
            for _ in 0..MAX_REDRAWS {
                let mut parts: Vec<Vec<usize>> = vec![Vec::new(); clients];
                for class in &by_class {
                    let mut idx = class.clone();
                    idx.shuffle(&mut rng);
                    let mut p = dirichlet(&mut rng, alpha, clients)
                        .ok_or_else(|| infeasible("bad alpha".into()))?;
                    for (pj, part) in p.iter_mut().zip(&parts) {
                        if part.len() as f64 >= cap {
                            *pj = 0.0;
                        }
                    }
                    let s: f64 = p.iter().sum();
                    if s <= 0.0 {
                        p = vec![1.0 / clients as f64; clients];
                    } else {
                        p.iter_mut().for_each(|x| *x /= s);
                    }
                    for (part, piece) in parts.iter_mut().zip(split_by(&idx, &p)) {
                        part.extend(piece);
                    }
                }
                if parts.iter().all(|p| p.len() >= min_size) {
                    found = Some(parts);
                    break;
                }
            }
            found.ok_or_else(|| {
                infeasible(format!(
                    "no draw in {MAX_REDRAWS} gave every client {min_size} samples"
                ))
            })?
        }
        PartitionSpec::Shards { per_client } => {
            let shards = clients * per_client;
            if n < shards {
                return Err(infeasible(format!(
                    "{shards} shards need at least as many samples"
                )));
            }
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by_key(|&i| (labels[i], i));
            let mut order: Vec<usize> = (0..shards).collect();
            order.shuffle(&mut rng);
            let bounds: Vec<std::ops::Range<usize>> = even_bounds(n, shards).collect();
            order
                .chunks(per_client)
                .map(|ids| {
                    ids.iter()
                        .flat_map(|&s| idx[bounds[s].clone()].iter().copied())
                        .collect()
                })
                .collect()
        }
    };
    for p in &mut parts {
        p.sort_unstable();
    }
    Ok(Partition { clients: parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        for s in ["iid", "dirichlet:0.5", "shards:2", "quantity:1"] {
            let spec: PartitionSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
        }
        for bad in [
            "",
            "iid:3",
            "dirichlet",
            "dirichlet:0",
            "dirichlet:-1",
            "dirichlet:x",
            "shards:0",
            "shards:1.5",
            "zipf:2",
        ] {
            let err = bad.parse::<PartitionSpec>().unwrap_err().to_string();
            assert!(err.contains("accepted"), "{bad}: {err}");
        }
    }

    #[test]
    fn split_by_covers_everything() {
        let idx: Vec<usize> = (0..17).collect();
        let parts = split_by(&idx, &[0.2, 0.0, 0.5, 0.3]);
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 17);
        assert!(parts[1].is_empty());
    }
}
