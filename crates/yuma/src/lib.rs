//! Compute one Yuma consensus epoch in I32F32 fixed point, bit-identical on every machine.
