#!/usr/bin/env python
"""Evaluation benchmark: FID and KID from feature matrices, timed against the reference methods.

Usage (from the repository root):

  .venv/bin/python scripts/bench_eval.py                       # 10k x 2048, one timed repeat
  .venv/bin/python scripts/bench_eval.py --threads 1 --repeats 3 --json out.json   # ~4 min
  .venv/bin/python scripts/bench_eval.py --n 2000 --d 256      # a quick smoke run
  .venv/bin/python scripts/bench_eval.py --inception_weights PB # also time the real network

What is measured
----------------
Features: synthetic stand-ins for Inception pool_3 (float32 [n, d]): z ~ N(0, I) mixed by a
seeded random [d, d] Gaussian matrix whose columns decay as (1 + j)^-1/2, so the covariance is
full rank but ill-conditioned (eigenvalues from 4e-10 to 1 at d = 2048: a hard case for the
square-root methods), plus a positive offset. The
"fake" set uses a perturbed mixing matrix and a shifted mean. Only the maths after feature
extraction is timed.

FID, ours (`compare_gan.metrics.fid`): float64 statistics (chunked centring + syrk) and
`trace_sqrt_product` (Cholesky factors, singular values of F_r^T F_g), reported separately and
together.
FID, the sqrtm method (TTUR `calculate_frechet_distance`, pytorch-fid, clean-fid): `np.mean`,
`np.cov` and `scipy.linalg.sqrtm(cov1 @ cov2)` in float64 (no `disp` argument: deprecated in
SciPy 1.17). Both trace-sqrt parts run on the same float64 statistics; the speed-ups reported are
sqrtm time / ours for the trace-sqrt part alone and for the full computation from features, and
the FID difference is |FID_ours - FID_sqrtm| (absolute and relative). For accuracy, each
Tr sqrt(S_r S_g) (ours, sqrtm, and TF-GAN's eigenvalues-then-square-roots method) is compared
with an exact reference from QR factors of the centred features (see `qr_reference_trace`).

KID (`compare_gan.metrics.kid.kernel_distance`): the "blocks" estimator (TF-GAN / compare_gan,
max_block_size 1024) and the "subsets" estimator (torch-fidelity: 100 subsets x 1000).

Every timing is the median of --repeats runs (all runs are in the JSON). The machine's load
average is printed before and after: figures taken while other jobs run are slower, and with
multi-threaded BLAS on oversubscribed cores erratic (use --threads 1 on a shared machine).
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import scipy
import scipy.linalg

from compare_gan.metrics import fid
from compare_gan.metrics import kid


# ---------------------------------------------------------------------------------------------
# Command line and helpers.
# ---------------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--n", type=int, default=10000, help="samples per set (real and fake)")
  parser.add_argument("--d", type=int, default=2048, help="feature dimension (pool_3: 2048)")
  parser.add_argument("--repeats", type=int, default=1, help="timed runs per measurement")
  parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic features")
  parser.add_argument("--kid_subsets", type=int, default=100, help="KID subsets estimator: count")
  parser.add_argument("--kid_subset_size", type=int, default=1000,
                      help="KID subsets estimator: samples per subset")
  parser.add_argument("--threads", type=int, default=None,
                      help="BLAS threads (threadpoolctl); default: leave BLAS as configured. "
                      "Use 1 on a shared machine: busy-waiting BLAS threads on oversubscribed "
                      "cores make timings several times slower and erratic")
  parser.add_argument("--skip_reference", action="store_true",
                      help="skip the exact QR-based Tr sqrt reference (~5-30 s at 10k x 2048)")
  parser.add_argument("--json", default=None, help="also write the results to this JSON file")
  parser.add_argument("--skip_extraction", action="store_true",
                      help="leave out the feature-extraction images/s section")
  parser.add_argument("--extract_images", type=int, default=512,
                      help="images pushed through the extractor")
  parser.add_argument("--extract_size", type=int, default=32, help="their height and width")
  parser.add_argument("--inception_weights", default=None,
                      help="real Inception weights to time as well (else the env var / cache)")
  args = parser.parse_args(argv)
  if args.n < 2 or args.d < 1 or args.repeats < 1:
    parser.error(f"need --n >= 2, --d >= 1, --repeats >= 1; got --n {args.n} --d {args.d} "
                 f"--repeats {args.repeats}")
  return args


def timed(fn: Callable[[], Any], repeats: int) -> Tuple[Any, float, List[float]]:
  """Runs fn `repeats` times; returns (last result, median seconds, all seconds)."""
  seconds = []
  result = None
  for _ in range(repeats):
    start = time.perf_counter()
    result = fn()
    seconds.append(time.perf_counter() - start)
  return result, statistics.median(seconds), seconds


def make_features(n: int, d: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
  """Synthetic float32 [n, d] real and fake feature sets (see the module docstring)."""
  rng = np.random.default_rng(seed)
  decay = (1.0 + np.arange(d)) ** -0.5
  mixing = (rng.standard_normal((d, d)) / np.sqrt(d) * decay).astype(np.float32)
  fake_mixing = mixing + (0.2 * rng.standard_normal((d, d)) / np.sqrt(d) * decay).astype(
      np.float32)
  offset = rng.uniform(0.2, 0.6, size=d).astype(np.float32)  # pool_3 features are ~0.4 on average.
  real = rng.standard_normal((n, d), dtype=np.float32) @ mixing.T + offset
  fake = rng.standard_normal((n, d), dtype=np.float32) @ fake_mixing.T + offset + 0.02
  return real, fake


def sqrtm_statistics(features: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """TTUR / pytorch-fid statistics: np.mean and np.cov (ddof 1), float64."""
  return np.mean(features, axis=0, dtype=np.float64), np.cov(features, rowvar=False)


def sqrtm_trace(cov1: np.ndarray, cov2: np.ndarray) -> float:
  """Tr sqrtm(cov1 @ cov2) the TTUR way (real part of a possibly complex square root)."""
  return float(np.trace(scipy.linalg.sqrtm(cov1 @ cov2)).real)


def qr_reference_trace(real: np.ndarray, fake: np.ndarray) -> float:
  """Tr sqrt(S_r S_g) from the features' R factors, never squaring their condition number."""
  factors = []
  for x in (real, fake):
    centred = (x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)) / np.sqrt(len(x) - 1)
    factors.append(np.linalg.qr(centred, mode="r"))
  return float(np.linalg.svd(factors[0] @ factors[1].T, compute_uv=False).sum())


# ---------------------------------------------------------------------------------------------
# FID: ours vs the sqrtm method.
# ---------------------------------------------------------------------------------------------

def bench_fid(args: argparse.Namespace, real: np.ndarray, fake: np.ndarray) -> Dict[str, Any]:
  r = args.repeats
  (stats_r, stats_g), t_stats, all_stats = timed(
      lambda: (fid.feature_statistics(real), fid.feature_statistics(fake)), r)
  (mu_r, cov_r), (mu_g, cov_g) = stats_r, stats_g
  trace_ours, t_trace, all_trace = timed(lambda: fid.trace_sqrt_product(cov_r, cov_g), r)
  fid_ours, t_full, all_full = timed(lambda: fid.frechet_distance(real, fake), r)

  (ref_r, ref_g), t_ref_stats, all_ref_stats = timed(
      lambda: (sqrtm_statistics(real), sqrtm_statistics(fake)), r)
  # The trace-sqrt parts are compared on the *same* statistics (ours), so the difference below
  # is that of the two square-root methods only.
  trace_sqrtm, t_sqrtm, all_sqrtm = timed(lambda: sqrtm_trace(cov_r, cov_g), r)
  fid_sqrtm = float(np.sum((mu_r - mu_g) ** 2) + np.trace(cov_r) + np.trace(cov_g)
                    - 2.0 * trace_sqrtm)
  # TF-GAN's method (eigenvalues of A cov2 A, then square roots), for accuracy and time.
  trace_eigh, t_eigh, all_eigh = timed(lambda: fid._trace_sqrt_product_eigh(cov_r, cov_g), r)
  # Exact reference without forming covariances: (X - mu) / sqrt(n - 1) = Q R gives S = R^T R,
  # so Tr sqrt(S_r S_g) = nuclear norm of R_r R_g^T (Householder QR is backward stable on X).
  if args.skip_reference:
    trace_ref, t_ref = float("nan"), 0.0
  else:
    trace_ref, t_ref, _ = timed(lambda: qr_reference_trace(real, fake), 1)
  # The sqrtm method end to end: its own np.cov statistics, then sqrtm (timed above on ours;
  # the two sets of statistics agree to `stats_gap`, so the sqrtm time is the same).
  t_sqrtm_full = t_ref_stats + t_sqrtm
  stats_gap = max(float(np.abs(cov_r - ref_r[1]).max()), float(np.abs(cov_g - ref_g[1]).max()))

  out = {
      "ours": {"statistics_s": t_stats, "trace_sqrt_s": t_trace,
               "full_from_features_s": t_full, "fid": fid_ours, "trace_sqrt": trace_ours},
      "sqrtm": {"statistics_s": t_ref_stats, "trace_sqrt_s": t_sqrtm,
                "full_from_features_s": t_sqrtm_full, "fid": fid_sqrtm,
                "trace_sqrt": trace_sqrtm},
      "speedup_trace_sqrt": t_sqrtm / t_trace,
      "speedup_full": t_sqrtm_full / t_full,
      "abs_diff": abs(fid_ours - fid_sqrtm),
      "rel_diff": abs(fid_ours - fid_sqrtm) / abs(fid_sqrtm),
      "max_abs_cov_diff_vs_np_cov": stats_gap,
      "tfgan_eigh": {"trace_sqrt_s": t_eigh, "trace_sqrt": trace_eigh},
      "qr_reference": {"seconds": t_ref, "trace_sqrt": trace_ref},
      "trace_sqrt_rel_error_vs_qr_reference": {
          "ours": abs(trace_ours - trace_ref) / trace_ref,
          "sqrtm": abs(trace_sqrtm - trace_ref) / trace_ref,
          "tfgan_eigh": abs(trace_eigh - trace_ref) / trace_ref},
      "all_runs_s": {"ours_statistics": all_stats, "ours_trace_sqrt": all_trace,
                     "ours_full": all_full, "sqrtm_statistics": all_ref_stats,
                     "sqrtm_trace_sqrt": all_sqrtm, "tfgan_eigh_trace_sqrt": all_eigh},
  }
  print(f"\n== FID, {real.shape[0]} x {real.shape[1]} float32 features per set ==")
  print(f"{'':28s}{'ours':>12s}{'sqrtm':>12s}{'sqrtm/ours':>12s}")
  print(f"{'statistics (2 sets) s':28s}{t_stats:12.3f}{t_ref_stats:12.3f}"
        f"{t_ref_stats / t_stats:12.2f}")
  print(f"{'trace sqrt s':28s}{t_trace:12.3f}{t_sqrtm:12.3f}{out['speedup_trace_sqrt']:12.2f}")
  print(f"{'full from features s':28s}{t_full:12.3f}{t_sqrtm_full:12.3f}"
        f"{out['speedup_full']:12.2f}")
  print(f"FID ours {fid_ours:.12g}; sqrtm on the same statistics {fid_sqrtm:.12g}: "
        f"|diff| {out['abs_diff']:.3g} (relative {out['rel_diff']:.3g})")
  print(f"statistics: max |cov_ours - np.cov| = {stats_gap:.3g}")
  errors = out["trace_sqrt_rel_error_vs_qr_reference"]
  if args.skip_reference:
    print(f"Tr sqrt(S_r S_g): QR reference skipped; TF-GAN eigen method took {t_eigh:.3f} s")
  else:
    print(f"Tr sqrt(S_r S_g) relative error vs the QR reference ({trace_ref:.15g}, {t_ref:.1f} "
          f"s): ours {errors['ours']:.2g}, sqrtm {errors['sqrtm']:.2g}, TF-GAN eigen method "
          f"{errors['tfgan_eigh']:.2g} ({t_eigh:.3f} s)")
  return out


# ---------------------------------------------------------------------------------------------
# KID: the two estimators.
# ---------------------------------------------------------------------------------------------

def bench_kid(args: argparse.Namespace, real: np.ndarray, fake: np.ndarray) -> Dict[str, Any]:
  r = args.repeats
  blocks, t_blocks, all_blocks = timed(lambda: kid.kernel_distance(real, fake), r)
  subsets, t_subsets, all_subsets = timed(
      lambda: kid.kernel_distance(real, fake, estimator="subsets", num_subsets=args.kid_subsets,
                                  subset_size=min(args.kid_subset_size, args.n)), r)
  n_blocks = -(-max(real.shape[0], fake.shape[0]) // 1024)
  out = {
      "blocks": {"mean": blocks[0], "std": blocks[1], "seconds": t_blocks,
                 "n_blocks": n_blocks, "all_runs_s": all_blocks},
      "subsets": {"mean": subsets[0], "std": subsets[1], "seconds": t_subsets,
                  "num_subsets": args.kid_subsets,
                  "subset_size": min(args.kid_subset_size, args.n), "all_runs_s": all_subsets},
  }
  print("\n== KID (polynomial kernel, degree 3, gamma 1/d, coef0 1) ==")
  print(f"blocks  ({n_blocks} blocks of <= 1024):  KID {blocks[0]:.6g} +- {blocks[1]:.3g} "
        f"(std over blocks) in {t_blocks:.3f} s")
  print(f"subsets ({args.kid_subsets} x {out['subsets']['subset_size']}):       KID "
        f"{subsets[0]:.6g} +- {subsets[1]:.3g} (std over subsets) in {t_subsets:.3f} s")
  return out


# ---------------------------------------------------------------------------------------------
# Feature extraction (images/s).
# ---------------------------------------------------------------------------------------------

def bench_extraction(args: argparse.Namespace) -> Dict[str, Any]:
  """Images/s through `features.extract_features` with the Inception preprocessing (x255, TF1
  resize to 299, (x-128)/128): on the tiny fake graph of the tests (so the figure is the
  preprocessing and pipeline cost) and, when weights are found (`--inception_weights`,
  $COMPARE_GAN_INCEPTION_WEIGHTS or the cache; never downloaded here), on the real network."""
  # pylint: disable=import-outside-toplevel
  import sys
  import tempfile
  # The fake graph is a test fake, kept in tests/ (not in the package): put tests/ on the path.
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                  "tests"))
  import fake_inception  # pylint: disable=import-error
  from compare_gan.metrics import features
  from compare_gan.metrics.inception import weights as inception_weights
  # pylint: enable=import-outside-toplevel
  images = np.random.default_rng(args.seed).uniform(
      size=(args.extract_images, args.extract_size, args.extract_size, 3)).astype(np.float32)
  out: Dict[str, Any] = {"images": args.extract_images, "size": args.extract_size,
                         "batch_size": 64}
  with tempfile.TemporaryDirectory() as tmp:
    sources = {"fake_graph": fake_inception.write_fake_inception_graph(
        os.path.join(tmp, "fake.pb"), "frozen_pb")}
    try:
      sources["real_graph"] = inception_weights.find_inception_weights(args.inception_weights,
                                                                       download=False)
    except inception_weights.InceptionWeightsNotFound:
      print("extraction: no real Inception weights found; the fake graph only")
    for name, path in sources.items():
      extractor = inception_weights.load_inception(path, download=False, batch_size=64)
      extractor(images[:64])  # trace and warm up
      start = time.perf_counter()
      feats = features.extract_features(extractor, images, batch_size=64)
      seconds = time.perf_counter() - start
      assert feats["pool_3"].shape == (len(images), 2048)
      out[name] = {"seconds": seconds, "images_per_s": len(images) / seconds,
                   "card": extractor.card()}
      print(f"extraction ({name}): {len(images)} images {args.extract_size}x"
            f"{args.extract_size}x3 in {seconds:.2f} s = {len(images) / seconds:.1f} images/s")
  return out


# ---------------------------------------------------------------------------------------------
# Main.
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def blas_threads(threads: Optional[int]) -> Iterator[Optional[List[Dict[str, Any]]]]:
  """Limits BLAS to `threads` (None: unchanged) inside the block; yields the libraries' info."""
  if threads is None:
    yield None
    return
  try:
    import threadpoolctl  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise SystemExit("--threads needs the threadpoolctl package (pip install threadpoolctl)") from e
  with threadpoolctl.threadpool_limits(limits=threads):
    yield [{k: info[k] for k in ("internal_api", "num_threads", "version")}
           for info in threadpoolctl.threadpool_info()]


def main(argv=None) -> Dict[str, Any]:
  args = parse_args(argv)
  with blas_threads(args.threads) as blas:
    results: Dict[str, Any] = {
        "config": vars(args),
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__, "scipy": scipy.__version__, "blas": blas,
                    "loadavg_before": list(os.getloadavg())},
    }
    threads = "as configured" if args.threads is None else args.threads
    print(f"bench_eval: n={args.n} d={args.d} repeats={args.repeats} seed={args.seed}, BLAS "
          f"threads {threads}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"numpy {np.__version__}, scipy {scipy.__version__}")
    start = time.perf_counter()
    real, fake = make_features(args.n, args.d, args.seed)
    print(f"synthetic features generated in {time.perf_counter() - start:.2f} s")

    results["fid"] = bench_fid(args, real, fake)
    results["kid"] = bench_kid(args, real, fake)
    if not args.skip_extraction:
      results["extraction"] = bench_extraction(args)

  results["machine"]["loadavg_after"] = list(os.getloadavg())
  print(f"\nload average after: {os.getloadavg()[0]:.2f}")
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump(results, f, indent=2)
    print(f"results written to {args.json}")
  return results


if __name__ == "__main__":
  main()
