//! Model-poisoning attacks on flat updates: each attack is an actor type that crafts what a
//! Byzantine client sends in a round, never an `if malicious` inside honest code.
//!
//! A round shows the attacker a [`RoundView`]: its own honest update (what it would have
//! sent), the honest updates of the round, the number of participants n and of Byzantine
//! clients f, the round number, its identity and a seed. Attacks marked **omniscient** read the
//! honest updates of the others (the strongest threat model of the papers); the others use
//! only their own update and the seed. All randomness comes from the seed, round and identity.
//!
//! | attack | crafted update | omniscient |
//! |---|---|---|
//! | [`SignFlip`] | −s·own | no |
//! | [`Scaling`] | λ·own (model replacement: λ = n/η, Bagdasaryan et al. 2020) | no |
//! | [`GaussianNoise`] | N(0, σ²) per coordinate | no |
//! | [`Alie`] | μ − z·σ per coordinate (Baruch et al. 2019) | yes |
//! | [`Ipm`] | −ε·μ (Xie et al. 2020) | yes |
//! | [`MinMax`] / [`MinSum`] | μ + γ·p, largest γ passing the distance test (Shejwalkar & Houmansadr 2021) | yes |
//! | [`FreeRider`] | 0, or a stale update | no |
//! | [`Sybil`] | k identities submit one crafted update | as its inner attack |
//!
//! (μ, σ: coordinate-wise mean and population standard deviation of the honest updates.)
//!
//! [`AttackKind`] names every attack, parses it from strings such as `alie`, `ipm:0.5`,
//! `scaling:10`, `sybil:5:sign_flip`, and also names the *data* attacks (`label_flip`,
//! `backdoor`) that act on a client's training data instead of its update: those are run by
//! the training harness, and [`AttackKind::update_attack`] returns `None` for them.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Why an attack could not craft its update or could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AttackError {
    /// An omniscient attack was given no honest updates.
    #[error("{attack} is omniscient: it needs at least one honest update, got none")]
    NoHonestUpdates {
        /// The attack's name.
        attack: &'static str,
    },
    /// Updates of different lengths.
    #[error("{attack}: update {index} has length {len}, expected {expected}")]
    LengthMismatch {
        /// The attack's name.
        attack: &'static str,
        /// Index of the honest update (or `usize::MAX` for the own update).
        index: usize,
        /// Its length.
        len: usize,
        /// The expected length.
        expected: usize,
    },
    /// A bad attack specification.
    #[error("cannot parse attack `{input}`: {reason}; accepted: {ACCEPTED}")]
    Parse {
        /// The text given.
        input: String,
        /// What was wrong.
        reason: String,
    },
}

const ACCEPTED: &str = "none, sign_flip[:s], scaling[:λ], model_replacement:n[:η], \
    gaussian[:σ], alie[:z], ipm[:ε], min_max[:std|unit|sign], min_sum[:std|unit|sign], \
    free_rider[:zero|stale], sybil:k:<attack>, label_flip[:offset], backdoor[:target]";

/// What an attacker sees in one round.
#[derive(Debug, Clone, Copy)]
pub struct RoundView<'a> {
    /// The honest updates of this round (read only by omniscient attacks).
    pub honest: &'a [&'a [f32]],
    /// The update this client would send if it were honest.
    pub own: &'a [f32],
    /// Participants in the round (honest + Byzantine).
    pub n: usize,
    /// Byzantine participants.
    pub f: usize,
    /// Round number.
    pub round: u64,
    /// This identity's index among the Byzantine clients.
    pub identity: u64,
    /// Seed of the run.
    pub seed: u64,
}

/// A model-poisoning attack: crafts the update a Byzantine client sends.
pub trait UpdateAttack: Send + fmt::Debug {
    /// The attack's name.
    fn name(&self) -> &'static str;
    /// Whether it reads the other clients' honest updates.
    fn omniscient(&self) -> bool;
    /// The update to send this round.
    fn craft(&mut self, view: &RoundView<'_>) -> Result<Vec<f32>, AttackError>;
    /// Updates for `count` Byzantine identities (default: one [`UpdateAttack::craft`] each,
    /// with `identity` = 0..count).
    fn craft_many(
        &mut self,
        view: &RoundView<'_>,
        count: usize,
    ) -> Result<Vec<Vec<f32>>, AttackError> {
        (0..count as u64)
            .map(|identity| self.craft(&RoundView { identity, ..*view }))
            .collect()
    }
}

fn check_honest<'a>(attack: &'static str, view: &RoundView<'a>) -> Result<usize, AttackError> {
    let first = view
        .honest
        .first()
        .ok_or(AttackError::NoHonestUpdates { attack })?;
    let d = first.len();
    for (index, h) in view.honest.iter().enumerate() {
        if h.len() != d {
            return Err(AttackError::LengthMismatch {
                attack,
                index,
                len: h.len(),
                expected: d,
            });
        }
    }
    Ok(d)
}

/// Coordinate-wise mean and population standard deviation of the honest updates (f64).
pub fn honest_moments(honest: &[&[f32]]) -> (Vec<f64>, Vec<f64>) {
    let d = honest.first().map_or(0, |h| h.len());
    let m = honest.len().max(1) as f64;
    let mut mean = vec![0.0; d];
    for h in honest {
        mean.iter_mut()
            .zip(*h)
            .for_each(|(a, &v)| *a += f64::from(v));
    }
    mean.iter_mut().for_each(|a| *a /= m);
    let mut var = vec![0.0; d];
    for h in honest {
        var.iter_mut()
            .zip(*h)
            .zip(&mean)
            .for_each(|((s, &v), mu)| *s += (f64::from(v) - mu).powi(2));
    }
    (mean, var.into_iter().map(|s| (s / m).sqrt()).collect())
}

fn rng_for(view: &RoundView<'_>, salt: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(view.seed ^ salt);
    rng.set_stream(view.round.wrapping_mul(1 << 20).wrapping_add(view.identity));
    rng
}

/// Sign flip: sends −s·own (s = 1 by default).
#[derive(Debug, Clone)]
pub struct SignFlip {
    /// Scale s ≥ 0.
    pub scale: f64,
}

impl UpdateAttack for SignFlip {
    fn name(&self) -> &'static str {
        "sign_flip"
    }
    fn omniscient(&self) -> bool {
        false
    }
    fn craft(&mut self, view: &RoundView<'_>) -> Result<Vec<f32>, AttackError> {
        Ok(view
            .own
            .iter()
            .map(|&v| (-self.scale * f64::from(v)) as f32)
            .collect())
    }
}

/// Scaling, or model replacement (Bagdasaryan et al. 2020): sends λ·own, with λ = n/η to
/// replace the global model when the server averages n updates with learning rate η.
#[derive(Debug, Clone)]
pub struct Scaling {
    /// The factor λ.
    pub factor: f64,
}

impl Scaling {
    /// Model replacement for n participants and server learning rate η: λ = n/η.
    pub fn model_replacement(n: usize, server_lr: f64) -> Self {
        Self {
            factor: n as f64 / server_lr,
        }
    }
}

impl UpdateAttack for Scaling {
    fn name(&self) -> &'static str {
        "scaling"
    }
    fn omniscient(&self) -> bool {
        false
    }
    fn craft(&mut self, view: &RoundView<'_>) -> Result<Vec<f32>, AttackError> {
        Ok(view
            .own
            .iter()
            .map(|&v| (self.factor * f64::from(v)) as f32)
            .collect())
    }
}

/// Gaussian noise: sends a fresh N(0, σ²) vector (seeded by seed, round and identity).
#[derive(Debug, Clone)]
pub struct GaussianNoise {
    /// Standard deviation σ.
    pub std: f64,
}

impl UpdateAttack for GaussianNoise {
    fn name(&self) -> &'static str {
        "gaussian"
    }
    fn omniscient(&self) -> bool {
        false
    }
    fn craft(&mut self, view: &RoundView<'_>) -> Result<Vec<f32>, AttackError> {
        let mut rng = rng_for(view, 0x6761_7573);
        Ok((0..view.own.len())
            .map(|_| (self.std * rng.sample::<f64, _>(StandardNormal)) as f32)
            .collect())
    }
}

/// The standard normal quantile Φ⁻¹(p), p in (0, 1) (Acklam's rational approximation,
/// relative error below 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// "A Little Is Enough" (Baruch et al. 2019), **omniscient**: every coordinate is set to
/// μⱼ − z·σⱼ of the honest updates, with z from the paper: s = ⌊n/2 + 1⌋ − f supporters are
/// needed, z = Φ⁻¹((n − s)/n).
#[derive(Debug, Clone, Default)]
pub struct Alie {
    /// A fixed z instead of the paper's (None: from n and f).
    pub z: Option<f64>,
}

impl Alie {
    /// The paper's z for n participants of which f are Byzantine.
    pub fn z_for(n: usize, f: usize) -> f64 {
        let s = (n / 2 + 1).saturating_sub(f);
        normal_quantile((n.saturating_sub(s)) as f64 / n.max(1) as f64)
    }
}

impl UpdateAttack for Alie {
    fn name(&self) -> &'static str {
        "alie"
    }
    fn omniscient(&self) -> bool {
        true
    }
    fn craft(&mut self, view: &RoundView<'_>) -> Result<Vec<f32>, AttackError> {
        check_honest(self.name(), view)?;
        let z = self.z.unwrap_or_else(|| Alie::z_for(view.n, view.f));
        let (mean, std) = honest_moments(view.honest);
        Ok(mean
            .iter()
            .zip(&std)
            .map(|(m, s)| (m - z * s) as f32)
            .collect())
    }
}

/// Inner-product manipulation (Xie et al. 2020), **omniscient**: sends −ε·μ, which makes the
/// inner product of the aggregate with the true gradient negative when averaged in.
#[derive(Debug, Clone)]
pub struct Ipm {
    /// ε > 0 (0.1 fools Krum-style rules in the paper; large ε breaks the mean).
    pub epsilon: f64,
}

impl UpdateAttack for Ipm {
    fn name(&self) -> &'static str {
        "ipm"
    }
    fn omniscient(&self) -> bool {
        true
    }
    fn craft(&mut self, view: &RoundView<'_>) -> Result<Vec<f32>, AttackError> {
        check_honest(self.name(), view)?;
        let (mean, _) = honest_moments(view.honest);
        Ok(mean.iter().map(|m| (-self.epsilon * m) as f32).collect())
    }
}

/// The perturbation direction p of min-max / min-sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perturbation {
    /// p = −σ (coordinate-wise standard deviation).
    InverseStd,
    /// p = −μ/‖μ‖.
    InverseUnit,
    /// p = −sign(μ).
    InverseSign,
}

impl Perturbation {
    fn vector(self, mean: &[f64], std: &[f64]) -> Vec<f64> {
        match self {
            Self::InverseStd => std.iter().map(|s| -s).collect(),
            Self::InverseUnit => {
                let norm = mean.iter().map(|m| m * m).sum::<f64>().sqrt();
                mean.iter()
                    .map(|m| if norm > 0.0 { -m / norm } else { 0.0 })
                    .collect()
            }
            Self::InverseSign => mean
                .iter()
                .map(|m| -m.signum() * f64::from(u8::from(*m != 0.0)))
                .collect(),
        }
    }
    fn label(self) -> &'static str {
        match self {
            Self::InverseStd => "std",
            Self::InverseUnit => "unit",
            Self::InverseSign => "sign",
        }
    }
}

fn sq_dist(a: &[f64], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, &y)| (x - f64::from(y)).powi(2))
        .sum()
}

/// The authors' γ search: start at γ₀, move by a halving step towards the largest γ for which
/// `ok(μ + γp)` holds; returns μ + γp with the last γ that passed (0 if none).
fn gamma_search(
    mean: &[f64],
    p: &[f64],
    gamma0: f64,
    ok: impl Fn(&[f64]) -> bool,
) -> (Vec<f64>, f64) {
    let at = |g: f64| -> Vec<f64> { mean.iter().zip(p).map(|(m, q)| m + g * q).collect() };
    let mut gamma = gamma0;
    let mut step = gamma0;
    let mut good = 0.0;
    let mut iterations = 0;
    while (good - gamma).abs() > 1e-5 && iterations < 200 {
        if ok(&at(gamma)) {
            good = gamma;
            gamma += step / 2.0;
        } else {
            gamma -= step / 2.0;
        }
        step /= 2.0;
        iterations += 1;
    }
    (at(good), good)
}

/// Min-max (Shejwalkar & Houmansadr 2021), **omniscient**: μ + γp with the largest γ such
/// that the crafted update's largest distance to an honest update is at most the largest
/// distance between two honest updates.
#[derive(Debug, Clone)]
pub struct MinMax {
    /// The perturbation direction.
    pub perturbation: Perturbation,
    /// Starting γ of the search (the authors use 10).
    pub gamma0: f64,
}

/// Min-sum (Shejwalkar & Houmansadr 2021), **omniscient**: μ + γp with the largest γ such
/// that the crafted update's sum of squared distances to the honest updates is at most the
/// largest such sum of an honest update.
#[derive(Debug, Clone)]
pub struct MinSum {
    /// The perturbation direction.
    pub perturbation: Perturbation,
    /// Starting γ of the search (the authors use 10).
    pub gamma0: f64,
}

/// How [`MinMax`] and [`MinSum`] fold one update's squared distances to the honest updates
/// into the number the crafted update must not exceed.
#[derive(Debug, Clone, Copy)]
enum Spread {
    /// The largest squared distance (min-max).
    Max,
    /// The sum of squared distances (min-sum).
    Sum,
}

impl Spread {
    fn of(self, x: &[f64], honest: &[&[f32]]) -> f64 {
        let distances = honest.iter().map(|h| sq_dist(x, h));
        match self {
            Spread::Max => distances.fold(0.0, f64::max),
            Spread::Sum => distances.sum(),
        }
    }

    /// μ + γp with the largest γ (searched from `gamma0`) whose spread is at most the largest
    /// spread of an honest update; the crafted update and γ.
    fn craft(self, perturbation: &Perturbation, gamma0: f64, honest: &[&[f32]]) -> (Vec<f64>, f64) {
        let (mean, std) = honest_moments(honest);
        let p = perturbation.vector(&mean, &std);
        let bound = honest
            .iter()
            .map(|h| {
                let widened: Vec<f64> = h.iter().map(|&v| f64::from(v)).collect();
                self.of(&widened, honest)
            })
            .fold(0.0, f64::max);
        gamma_search(&mean, &p, gamma0, |m| self.of(m, honest) <= bound)
    }
}

impl MinMax {
    /// The crafted update and the γ found.
    pub fn craft_with_gamma(&self, honest: &[&[f32]]) -> (Vec<f64>, f64) {
        Spread::Max.craft(&self.perturbation, self.gamma0, honest)
    }
}

impl MinSum {
    /// The crafted update and the γ found.
    pub fn craft_with_gamma(&self, honest: &[&[f32]]) -> (Vec<f64>, f64) {
        Spread::Sum.craft(&self.perturbation, self.gamma0, honest)
    }
}

/// The [`UpdateAttack`] impl of an omniscient attack whose `craft_with_gamma` gives the update.
macro_rules! omniscient_gamma_attack {
    ($ty:ty, $name:literal) => {
        impl UpdateAttack for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn omniscient(&self) -> bool {
                true
            }
            fn craft(&mut self, view: &RoundView<'_>) -> Result<Vec<f32>, AttackError> {
                check_honest(self.name(), view)?;
                Ok(self
                    .craft_with_gamma(view.honest)
                    .0
                    .iter()
                    .map(|&v| v as f32)
                    .collect())
            }
        }
    };
}

omniscient_gamma_attack!(MinMax, "min_max");
omniscient_gamma_attack!(MinSum, "min_sum");

/// What a free rider sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeRide {
    /// The zero update (no training done).
    Zero,
    /// The update it sent in its first round, again and again.
    Stale,
}

/// Free-riding: takes part (and the reward) without training.
#[derive(Debug, Clone)]
pub struct FreeRider {
    /// Zero or stale.
    pub mode: FreeRide,
    /// The first update seen (for stale mode).
    first: Option<Vec<f32>>,
}

impl FreeRider {
    /// A free rider of this kind.
    pub fn new(mode: FreeRide) -> Self {
        Self { mode, first: None }
    }
}

impl UpdateAttack for FreeRider {
    fn name(&self) -> &'static str {
        "free_rider"
    }
    fn omniscient(&self) -> bool {
        false
    }
    fn craft(&mut self, view: &RoundView<'_>) -> Result<Vec<f32>, AttackError> {
        Ok(match self.mode {
            FreeRide::Zero => vec![0.0; view.own.len()],
            FreeRide::Stale => self.first.get_or_insert_with(|| view.own.to_vec()).clone(),
        })
    }
}

/// Sybil clones: one attacker behind k identities, all submitting the same crafted update.
#[derive(Debug)]
pub struct Sybil {
    /// Number of identities k.
    pub k: usize,
    /// The attack whose update every identity submits.
    pub inner: Box<dyn UpdateAttack>,
}

impl UpdateAttack for Sybil {
    fn name(&self) -> &'static str {
        "sybil"
    }
    fn omniscient(&self) -> bool {
        self.inner.omniscient()
    }
    fn craft(&mut self, view: &RoundView<'_>) -> Result<Vec<f32>, AttackError> {
        self.inner.craft(&RoundView {
            identity: 0,
            ..*view
        })
    }
    /// Every identity gets the identical update (crafted once, as identity 0).
    fn craft_many(
        &mut self,
        view: &RoundView<'_>,
        count: usize,
    ) -> Result<Vec<Vec<f32>>, AttackError> {
        let one = self.craft(view)?;
        Ok(vec![one; count])
    }
}

/// Every attack by name with its parameters: the update attacks of this module and the data
/// attacks run by the training harness.
#[derive(Debug, Clone, PartialEq)]
pub enum AttackKind {
    /// No attack: Byzantine clients behave honestly.
    None,
    /// −s·own.
    SignFlip(f64),
    /// λ·own.
    Scaling(f64),
    /// Model replacement for n participants and server learning rate η (λ = n/η).
    ModelReplacement {
        /// Participants n.
        n: usize,
        /// Server learning rate η.
        server_lr: f64,
    },
    /// N(0, σ²).
    Gaussian(f64),
    /// ALIE with an optional fixed z.
    Alie(Option<f64>),
    /// IPM with ε.
    Ipm(f64),
    /// Min-max with its perturbation.
    MinMax(Perturbation),
    /// Min-sum with its perturbation.
    MinSum(Perturbation),
    /// Free riding.
    FreeRider(FreeRide),
    /// k identities submitting the inner attack's update.
    Sybil(usize, Box<AttackKind>),
    /// Data attack: each training label y becomes (y + offset) mod classes (run by the harness).
    LabelFlip(u32),
    /// Data attack: a pixel-pattern trigger stamped on training images relabelled to the
    /// target class (run by the harness, success rate measured on triggered test images).
    Backdoor(u32),
}

impl AttackKind {
    /// The model-poisoning actor, or `None` for no attack and for data attacks.
    pub fn update_attack(&self) -> Option<Box<dyn UpdateAttack>> {
        Some(match self {
            Self::None | Self::LabelFlip(_) | Self::Backdoor(_) => return None,
            Self::SignFlip(s) => Box::new(SignFlip { scale: *s }),
            Self::Scaling(l) => Box::new(Scaling { factor: *l }),
            Self::ModelReplacement { n, server_lr } => {
                Box::new(Scaling::model_replacement(*n, *server_lr))
            }
            Self::Gaussian(s) => Box::new(GaussianNoise { std: *s }),
            Self::Alie(z) => Box::new(Alie { z: *z }),
            Self::Ipm(e) => Box::new(Ipm { epsilon: *e }),
            Self::MinMax(p) => Box::new(MinMax {
                perturbation: *p,
                gamma0: 10.0,
            }),
            Self::MinSum(p) => Box::new(MinSum {
                perturbation: *p,
                gamma0: 10.0,
            }),
            Self::FreeRider(m) => Box::new(FreeRider::new(*m)),
            Self::Sybil(k, inner) => Box::new(Sybil {
                k: *k,
                inner: inner.update_attack()?,
            }),
        })
    }

    /// Whether the attack poisons training data (run by the harness) rather than updates.
    pub fn is_data_attack(&self) -> bool {
        match self {
            Self::LabelFlip(_) | Self::Backdoor(_) => true,
            Self::Sybil(_, inner) => inner.is_data_attack(),
            _ => false,
        }
    }
}

impl fmt::Display for AttackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => write!(f, "none"),
            Self::SignFlip(s) => write!(f, "sign_flip:{s}"),
            Self::Scaling(l) => write!(f, "scaling:{l}"),
            Self::ModelReplacement { n, server_lr } => {
                write!(f, "model_replacement:{n}:{server_lr}")
            }
            Self::Gaussian(s) => write!(f, "gaussian:{s}"),
            Self::Alie(None) => write!(f, "alie"),
            Self::Alie(Some(z)) => write!(f, "alie:{z}"),
            Self::Ipm(e) => write!(f, "ipm:{e}"),
            Self::MinMax(p) => write!(f, "min_max:{}", p.label()),
            Self::MinSum(p) => write!(f, "min_sum:{}", p.label()),
            Self::FreeRider(FreeRide::Zero) => write!(f, "free_rider:zero"),
            Self::FreeRider(FreeRide::Stale) => write!(f, "free_rider:stale"),
            Self::Sybil(k, inner) => write!(f, "sybil:{k}:{inner}"),
            Self::LabelFlip(o) => write!(f, "label_flip:{o}"),
            Self::Backdoor(t) => write!(f, "backdoor:{t}"),
        }
    }
}

impl FromStr for AttackKind {
    type Err = AttackError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| AttackError::Parse {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let (name, rest) = match input.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (input, None),
        };
        let num = |default: f64| -> Result<f64, AttackError> {
            match rest {
                None => Ok(default),
                Some(r) => r
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| err("the parameter after ':' must be a finite number")),
            }
        };
        let int = |default: u32| -> Result<u32, AttackError> {
            match rest {
                None => Ok(default),
                Some(r) => r
                    .parse::<u32>()
                    .map_err(|_| err("the parameter after ':' must be a non-negative integer")),
            }
        };
        let perturbation = || match rest {
            None | Some("std") => Ok(Perturbation::InverseStd),
            Some("unit") => Ok(Perturbation::InverseUnit),
            Some("sign") => Ok(Perturbation::InverseSign),
            Some(_) => Err(err("the perturbation must be std, unit or sign")),
        };
        let kind = match name.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "none" | "honest" => Self::None,
            "sign_flip" | "signflip" => Self::SignFlip(num(1.0)?),
            "scaling" | "scale" => Self::Scaling(num(10.0)?),
            "model_replacement" => {
                let r = rest
                    .ok_or_else(|| err("model_replacement needs n, as model_replacement:n[:η]"))?;
                let (n, lr) = r.split_once(':').unwrap_or((r, "1"));
                Self::ModelReplacement {
                    n: n.parse().map_err(|_| err("n must be a positive integer"))?,
                    server_lr: lr
                        .parse::<f64>()
                        .ok()
                        .filter(|x| *x > 0.0 && x.is_finite())
                        .ok_or_else(|| err("η must be a number > 0"))?,
                }
            }
            "gaussian" | "noise" => Self::Gaussian(num(1.0)?),
            "alie" => Self::Alie(rest.map(|_| num(0.0)).transpose()?),
            "ipm" => Self::Ipm(num(0.1)?),
            "min_max" | "minmax" => Self::MinMax(perturbation()?),
            "min_sum" | "minsum" => Self::MinSum(perturbation()?),
            "free_rider" | "freerider" | "free_riding" => Self::FreeRider(match rest {
                None | Some("zero") => FreeRide::Zero,
                Some("stale") => FreeRide::Stale,
                Some(_) => return Err(err("free_rider takes zero or stale")),
            }),
            "sybil" => {
                let r =
                    rest.ok_or_else(|| err("sybil needs k and an attack, as sybil:k:<attack>"))?;
                let (k, inner) = r
                    .split_once(':')
                    .ok_or_else(|| err("sybil needs k and an attack, as sybil:k:<attack>"))?;
                let k: usize = k
                    .parse()
                    .ok()
                    .filter(|k| *k > 0)
                    .ok_or_else(|| err("k must be a positive integer"))?;
                Self::Sybil(k, Box::new(inner.parse()?))
            }
            "label_flip" | "labelflip" => Self::LabelFlip(int(1)?),
            "backdoor" => Self::Backdoor(int(0)?),
            _ => return Err(err("unknown attack name")),
        };
        Ok(kind)
    }
}
