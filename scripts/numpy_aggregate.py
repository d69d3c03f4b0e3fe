#!/usr/bin/env python3
"""numpy baselines for `deai bench aggregate` (issue 6, "Speed").

Times the usual numpy way of computing each robust aggregation rule on an n×d float32 matrix
built like the Rust benchmark's synthetic round (n − f honest rows μ + N(0, 0.5²), f = ⌊0.2n⌋
Byzantine rows 20·N(0, 1)), and prints each rule's time and its ratio to numpy's own plain
single-pass sum of the same matrix, measured in the same process and interleaved with it
(minimum over at least --repeat runs each, more until a rule's runs add up to --min-time
seconds, at most 1000).

The baselines (numpy at its ordinary best, no hand tuning):
  fedavg              w @ X / Σw                          (BLAS gemv)
  norm_clipping_mean  row norms, then (w·min(1, M/‖xᵢ‖)) @ X / Σw
  coordinate_median   np.median(X, axis=0)
  trimmed_mean        np.sort(X, axis=0)[k:n-k].mean(axis=0)          (k = f)
  krum / multi_krum   pairwise squared distances from X @ X.T, sort each row, sum the
                      n − f − 2 nearest; the row (krum) / mean of the n − f rows (multi_krum)
                      with the lowest scores
  geometric_median    smoothed Weiszfeld (RFA): z₀ = mean, βᵢ = aᵢ / max(ν, ‖z − xᵢ‖),
                      z ← Σβᵢxᵢ / Σβᵢ, ν = 1e-6, until the step ≤ tol (default 1e-10) or
                      max_iter (default 1000) — the Rust rule's parameters — or the step
                      ≤ 1e-6·‖z‖ (float32 sums cannot get closer; prints the iterations)

Usage: python3 scripts/numpy_aggregate.py [--n 10,50,100] [--d 159010,1000000]
       [--rules fedavg,...] [--repeat 3] [--min-time 0.2] [--seed 1] [--json]
Krum and Multi-Krum are also timed against one X @ X.T of the same matrix (numpy's BLAS
product, interleaved in the same way): at these sizes the product, not the read, is their
bound. With --json it prints one JSON array of records {n, d, f, rule, seconds,
bound_seconds, ratio_to_bound, xxt_seconds?, ratio_to_xxt?, iterations?};
`deai bench aggregate --numpy` reads that.
"""

import argparse
import json
import sys
import time

import numpy as np

RULES = [
    "fedavg",
    "norm_clipping_mean",
    "coordinate_median",
    "trimmed_mean",
    "krum",
    "multi_krum",
    "geometric_median",
]


def synthetic(seed, n, f, d):
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal(d, dtype=np.float32)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x[: n - f] *= np.float32(0.5)
    x[: n - f] += mu
    x[n - f :] *= np.float32(20.0)
    weights = np.array([10 + (i * 37 + 11) % 90 for i in range(n)], dtype=np.float32)
    return x, weights


def fedavg(x, w):
    return (w @ x) / w.sum()


def norm_clipping_mean(x, w, max_norm):
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    scale = np.minimum(np.float32(1.0), np.float32(max_norm) / norms)
    return ((w * scale) @ x) / w.sum()


def coordinate_median(x):
    return np.median(x, axis=0)


def trimmed_mean(x, k):
    s = np.sort(x, axis=0)
    return s[k : x.shape[0] - k].mean(axis=0)


def krum_scores(x, f):
    n = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, np.inf)
    nn = n - f - 2
    return np.sort(d2, axis=1)[:, :nn].sum(axis=1)


def krum(x, f):
    return x[int(np.argmin(krum_scores(x, f)))].copy()


def multi_krum(x, f):
    m = x.shape[0] - f
    idx = np.argsort(krum_scores(x, f), kind="stable")[:m]
    return x[idx].mean(axis=0)


def geometric_median(x, nu=1e-6, max_iter=1000, tol=1e-10):
    n = x.shape[0]
    a = np.full(n, 1.0 / n)
    z = x.mean(axis=0, dtype=np.float64)
    it = 0
    for it in range(1, max_iter + 1):
        diff = x - z.astype(np.float32)
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff).astype(np.float64))
        beta = a / np.maximum(nu, dist)
        nxt = (beta.astype(np.float32) @ x).astype(np.float64) / beta.sum()
        step = np.linalg.norm(nxt - z)
        z = nxt
        # The weighted sum is float32, so the step stalls near f32 resolution of ‖z‖; stop
        # there too (the Rust rule iterates on f64 coefficients and reaches `tol`).
        if step <= max(tol, 1e-6 * np.linalg.norm(z)):
            break
    return z.astype(np.float32), it


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", default="10,50,100")
    p.add_argument("--d", default="159010,1000000")
    p.add_argument("--rules", default=",".join(RULES))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--min-time", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    ns = [int(v) for v in args.n.split(",") if v]
    ds = [int(v) for v in args.d.split(",") if v]
    rules = [r for r in args.rules.split(",") if r]
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        sys.exit(f"error: unknown rule(s) {unknown}; known: {RULES}")

    records = []
    if not args.json:
        print(
            f"numpy {np.__version__} baselines, min of at least {args.repeat} runs (more until "
            f"they add up to {args.min_time} s) interleaved with "
            "numpy's own single-pass sum X.sum() (the bound)"
        )
        print(f"{'n':>4} {'d':>8} {'rule':<20} {'ms':>9} {'x bound':>8}")
    for d in ds:
        for n in ns:
            f = n // 5
            x, w = synthetic(args.seed, n, f, d)
            honest_norm = (1.25 * d) ** 0.5
            bound = float("inf")
            xxt = float("inf")
            rows = []
            for rule in rules:
                best = float("inf")
                extra = {}
                runs, spent = 0, 0.0
                while runs < max(args.repeat, 1) or (spent < args.min_time and runs < 1000):
                    runs += 1
                    t = time.perf_counter()
                    x.sum()
                    bound = min(bound, time.perf_counter() - t)
                    if rule in ("krum", "multi_krum"):
                        t = time.perf_counter()
                        x @ x.T
                        xxt = min(xxt, time.perf_counter() - t)
                    t = time.perf_counter()
                    if rule == "fedavg":
                        fedavg(x, w)
                    elif rule == "norm_clipping_mean":
                        norm_clipping_mean(x, w, 1.25 * honest_norm)
                    elif rule == "coordinate_median":
                        coordinate_median(x)
                    elif rule == "trimmed_mean":
                        trimmed_mean(x, f)
                    elif rule == "krum":
                        krum(x, f)
                    elif rule == "multi_krum":
                        multi_krum(x, f)
                    elif rule == "geometric_median":
                        _, its = geometric_median(x)
                        extra["iterations"] = its
                    elapsed = time.perf_counter() - t
                    spent += elapsed
                    best = min(best, elapsed)
                rows.append((rule, best, extra))
            if not args.json:
                print(f"{n:>4} {d:>8} {'[bound] X.sum()':<20} {bound * 1e3:>9.2f} {1.0:>8.2f}")
                if xxt < float("inf"):
                    print(f"{n:>4} {d:>8} {'[XXᵀ] x @ x.T':<20} {xxt * 1e3:>9.2f} {xxt / bound:>8.2f}")
            for rule, best, extra in rows:
                if args.json:
                    rec = {
                        "n": n,
                        "d": d,
                        "f": f,
                        "rule": rule,
                        "seconds": best,
                        "bound_seconds": bound,
                        "ratio_to_bound": best / bound,
                    }
                    if rule in ("krum", "multi_krum"):
                        rec["xxt_seconds"] = xxt
                        rec["ratio_to_xxt"] = best / xxt
                    rec.update(extra)
                    records.append(rec)
                else:
                    note = f"  ({extra['iterations']} iterations)" if extra else ""
                    print(
                        f"{n:>4} {d:>8} {rule:<20} {best * 1e3:>9.2f} {best / bound:>8.2f}{note}"
                    )
            sys.stdout.flush()
    if args.json:
        print(json.dumps(records))


if __name__ == "__main__":
    main()
