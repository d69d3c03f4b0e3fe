//! Data-poisoning attacks: actors that change what a Byzantine client trains on, then train
//! honestly (through the same [`deai_ml::train_local`]) on the poisoned copy of its shard.
//!
//! - [`LabelFlip`]: every label l of the attacker's shard becomes 9 − l ([`Flip::Reverse`],
//!   the default `label_flip`), or (l + k) mod 10 for `label_flip:k` ([`Flip::Shift`]).
//! - [`Backdoor`]: a pixel-pattern trigger (a `size`×`size` white square in the bottom-right
//!   corner, 4×4 by default) is stamped on a seeded share of the attacker's samples, which are
//!   relabelled to the target class. Its success rate is measured on the test images of the
//!   other classes with the trigger stamped ([`Backdoor::triggered_test_set`]): the share the
//!   model classifies as the target.

use deai_ml::data::CLASSES;
use deai_ml::{seed, Dataset};
use rand::seq::SliceRandom;

use super::HarnessError;

/// How labels are flipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flip {
    /// l → 9 − l.
    Reverse,
    /// l → (l + k) mod 10.
    Shift(u8),
}

/// Label flipping on the attacker's shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelFlip {
    /// The flip rule.
    pub flip: Flip,
}

impl LabelFlip {
    /// The flipped label.
    pub fn flip_label(&self, l: u8) -> u8 {
        let classes = CLASSES as u8;
        match self.flip {
            Flip::Reverse => (classes - 1).saturating_sub(l),
            Flip::Shift(k) => ((u16::from(l) + u16::from(k)) % u16::from(classes)) as u8,
        }
    }

    /// Flips every label of `data` in place.
    pub fn poison(&self, data: &mut Dataset) {
        for l in data.labels_mut() {
            *l = self.flip_label(*l);
        }
    }
}

/// A targeted backdoor with a square pixel trigger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backdoor {
    /// The class triggered images should be classified as.
    pub target: u8,
    /// Side of the white square stamped in the bottom-right corner.
    pub size: usize,
    /// Share of the attacker's samples that are stamped and relabelled, in (0, 1].
    pub poison_fraction: f64,
}

impl Backdoor {
    /// A 4×4 trigger on half the attacker's samples.
    pub fn new(target: u8) -> Self {
        Self {
            target,
            size: 4,
            poison_fraction: 0.5,
        }
    }

    /// Stamps the trigger on image `i` of `data` (pixels set to 1.0).
    pub fn stamp(&self, data: &mut Dataset, i: usize) {
        let (rows, cols, p) = (data.rows(), data.cols(), data.pixels());
        let size = self.size.min(rows).min(cols);
        let image = &mut data.images_mut()[i * p..(i + 1) * p];
        for r in rows - size..rows {
            for c in cols - size..cols {
                image[r * cols + c] = 1.0;
            }
        }
    }

    /// Stamps the trigger on a seeded share of `data` and relabels those samples to the
    /// target; returns the indices poisoned (ascending).
    pub fn poison(&self, data: &mut Dataset, seed: u64) -> Result<Vec<usize>, HarnessError> {
        self.check()?;
        let mut order: Vec<usize> = (0..data.len()).collect();
        order.shuffle(&mut seed::rng(seed, "backdoor", &[]));
        let count = ((data.len() as f64) * self.poison_fraction).round() as usize;
        let mut chosen: Vec<usize> = order.into_iter().take(count).collect();
        chosen.sort_unstable();
        for &i in &chosen {
            self.stamp(data, i);
            data.labels_mut()[i] = self.target;
        }
        Ok(chosen)
    }

    /// The test images whose label is not the target, stamped and labelled as the target: the
    /// accuracy of a model on this set is the attack success rate.
    pub fn triggered_test_set(&self, test: &Dataset) -> Result<Dataset, HarnessError> {
        self.check()?;
        let others: Vec<usize> = (0..test.len())
            .filter(|&i| test.labels()[i] != self.target)
            .collect();
        let mut set = test.subset(&others).map_err(|e| HarnessError::Data {
            reason: e.to_string(),
        })?;
        for i in 0..set.len() {
            self.stamp(&mut set, i);
        }
        set.labels_mut().fill(self.target);
        Ok(set)
    }

    fn check(&self) -> Result<(), HarnessError> {
        if usize::from(self.target) >= CLASSES {
            return Err(HarnessError::Grid {
                reason: format!("backdoor target {} is not a class 0..10", self.target),
            });
        }
        if !(self.poison_fraction > 0.0 && self.poison_fraction <= 1.0) || self.size == 0 {
            return Err(HarnessError::Grid {
                reason: format!(
                    "backdoor_fraction {} must be in (0, 1] and the trigger size {} >= 1",
                    self.poison_fraction, self.size
                ),
            });
        }
        Ok(())
    }
}

/// A data attack run by the harness on a Byzantine client's shard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DataAttack {
    /// Label flipping.
    LabelFlip(LabelFlip),
    /// Targeted backdoor.
    Backdoor(Backdoor),
}

impl DataAttack {
    /// Poisons a copy of the attacker's shard (`seed` picks the backdoor's samples).
    pub fn poison(&self, data: &mut Dataset, seed: u64) -> Result<(), HarnessError> {
        match self {
            Self::LabelFlip(a) => a.poison(data),
            Self::Backdoor(b) => {
                b.poison(data, seed)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        let labels: Vec<u8> = (0..20).map(|i| (i % 10) as u8).collect();
        Dataset::new(vec![0.0; 20 * 28 * 28], labels, 28, 28).unwrap()
    }

    #[test]
    fn reverse_and_shift() {
        let r = LabelFlip {
            flip: Flip::Reverse,
        };
        assert_eq!((0..10).map(|l| r.flip_label(l)).collect::<Vec<_>>(), {
            let mut v: Vec<u8> = (0..10).collect();
            v.reverse();
            v
        });
        let s = LabelFlip {
            flip: Flip::Shift(3),
        };
        assert_eq!(s.flip_label(8), 1);
    }

    #[test]
    fn backdoor_poisons_the_requested_share() {
        let mut d = tiny();
        let b = Backdoor::new(7);
        let chosen = b.poison(&mut d, 1).unwrap();
        assert_eq!(chosen.len(), 10);
        let lit = |d: &Dataset, i: usize| d.image(i).unwrap().iter().filter(|&&p| p == 1.0).count();
        for i in 0..d.len() {
            if chosen.contains(&i) {
                assert_eq!(d.labels()[i], 7);
                assert_eq!(lit(&d, i), 16);
            } else {
                assert_eq!(lit(&d, i), 0);
            }
        }
        let t = b.triggered_test_set(&tiny()).unwrap();
        assert_eq!(t.len(), 18);
        assert!(t.labels().iter().all(|&l| l == 7));
    }
}
