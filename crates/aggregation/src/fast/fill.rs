//! Output vectors written once, in parallel, without being zero-filled first.
//!
//! A fresh `vec![0.0f32; d]` is not free: the allocator hands back recycled heap memory and
//! clears it on one core, a sizeable part of a memory-bound rule's time at large d, and the
//! weighted-sum kernels then overwrite every value anyway. [`par_build`] gives
//! each column task a [`Sink`] over its uninitialized piece of the output instead. The kernel
//! appends values in order; whatever it leaves unwritten is filled with `O::default()` when
//! the task ends, so every element is initialized whatever the kernel does, and the module's
//! two `unsafe` blocks rest on that alone.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Write-once, in-order access to one task's uninitialized piece of an output vector.
pub struct Sink<'a, O> {
    dst: &'a mut [MaybeUninit<O>],
    /// Elements written so far: `dst[..pos]` is initialized.
    pos: usize,
}

impl<'a, O: Copy + Default> Sink<'a, O> {
    /// Length of the piece.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.dst.len()
    }

    /// Appends `vals` after what was written so far (any beyond the piece's end are dropped).
    #[inline(always)]
    pub fn extend(&mut self, vals: impl IntoIterator<Item = O>) {
        let mut written = 0;
        for (d, v) in self.dst[self.pos..].iter_mut().zip(vals) {
            d.write(v);
            written += 1;
        }
        self.pos += written;
    }

    /// Fills what is left unwritten with `O::default()` and returns the initialized piece.
    fn finish(self) -> &'a [O] {
        for d in &mut self.dst[self.pos..] {
            d.write(O::default());
        }
        let dst: &'a [MaybeUninit<O>] = self.dst;
        // SAFETY: `dst[..pos]` was written by `extend` and `dst[pos..]` just above, so every
        // element is initialized; `MaybeUninit<O>` has the layout of `O`.
        unsafe { &*(std::ptr::from_ref(dst) as *const [O]) }
    }
}

/// A vector of `d` elements built by `work(task, sink)` over consecutive pieces of `chunk`
/// elements (the last may be shorter), in parallel. Returns the vector, each task's result in
/// task order, and whether `check` held for every finished piece (run by the task that wrote
/// it, while the piece is in cache).
pub fn par_build<O, R>(
    d: usize,
    chunk: usize,
    work: impl Fn(usize, &mut Sink<'_, O>) -> R + Sync,
    check: impl Fn(&[O]) -> bool + Sync,
) -> (Vec<O>, Vec<R>, bool)
where
    O: Copy + Default + Send + Sync,
    R: Send,
{
    let mut out: Vec<O> = Vec::with_capacity(d);
    let (results, ok): (Vec<R>, Vec<bool>) = out.spare_capacity_mut()[..d]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .map(|(t, dst)| {
            let mut sink = Sink { dst, pos: 0 };
            let r = work(t, &mut sink);
            (r, check(sink.finish()))
        })
        .unzip();
    // SAFETY: the pieces cover `out`'s first `d` elements, and each was fully initialized by
    // `Sink::finish` above (if a task panicked, the panic propagated and this is not reached).
    unsafe { out.set_len(d) };
    (out, results, ok.iter().all(|&b| b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_is_written_once_in_task_order() {
        let (v, starts, ok) = par_build(
            10,
            4,
            |t, s: &mut Sink<'_, u32>| {
                s.extend((0..s.len()).map(|k| (t * 4 + k) as u32));
                t * 4
            },
            |p| p.len() <= 4,
        );
        assert_eq!(v, (0..10).collect::<Vec<u32>>());
        assert_eq!(starts, vec![0, 4, 8]);
        assert!(ok);
    }

    #[test]
    fn an_unwritten_tail_is_the_default_and_overflow_is_dropped() {
        let (v, _, ok) = par_build(
            5,
            5,
            |_, s: &mut Sink<'_, f32>| {
                s.extend([1.0, 2.0]);
                s.extend([3.0]);
            },
            |p| p.iter().all(|x| *x != 0.0),
        );
        assert_eq!(v, vec![1.0, 2.0, 3.0, 0.0, 0.0]);
        assert!(!ok);
        let (v, _, _) = par_build(3, 2, |_, s: &mut Sink<'_, u8>| s.extend([7; 9]), |_| true);
        assert_eq!(v, vec![7, 7, 7]);
    }

    #[test]
    fn an_empty_vector() {
        let (v, r, ok) = par_build(0, 8, |_, _: &mut Sink<'_, f64>| 1, |_| false);
        assert!(v.is_empty() && r.is_empty() && ok);
    }
}
