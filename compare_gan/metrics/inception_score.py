"""Inception Score (Salimans et al., 2016, "Improved Techniques for Training GANs", section 4).

    IS = exp( E_x KL(p(y|x) || p(y)) ),   p(y) = mean of p(y|x) over the set (or split)

computed in float64 from classifier logits with a log-softmax, as TF-GAN's
`classifier_score_from_logits` (compare_gan: one split over 10k samples) and torch-fidelity.

Splits follow the OpenAI convention: split i is the contiguous range [i N // s, (i+1) N // s);
each split gets its own p(y) and its own exp(mean KL), and the result is the mean and np.std
(ddof = 0) of those per-split scores. The mean over splits is not the score of the whole set
(Barratt & Sharma, 2018): it depends on the number of splits and on the order of the samples
(class-sorted samples give very different per-split scores), so shuffle the samples first when
using several splits.

Saturated logits (a class gap above ~745 in float64) give probabilities that are exactly 0; the
reference implementations then compute 0 * log 0 = 0 * (-inf) = NaN. Here p log p terms with
p == 0 are 0 (their limit, as `scipy.special.xlogy`), so the score stays finite.
"""

from typing import Tuple

import numpy as np


def _validate(x: np.ndarray, name: str, splits: int) -> np.ndarray:
  """Checks a [N, C] array of finite reals and the split count; returns it as float64."""
  x = np.asarray(x)
  if x.ndim != 2:
    raise ValueError(f"{name} must be a 2-D [N, C] array; got shape {x.shape}.")
  if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
    raise ValueError(f"{name} must be real numbers; got dtype {x.dtype}.")
  x = x.astype(np.float64, copy=False)
  finite = np.isfinite(x)
  if not finite.all():
    raise ValueError(f"{name} contain {int(np.isnan(x).sum())} NaN values and "
                     f"{int((~finite).sum() - np.isnan(x).sum())} infinite values; all values must "
                     "be finite.")
  if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
    raise ValueError(f"splits must be an integer >= 1; got {splits!r}.")
  if x.shape[0] < splits:
    raise ValueError(f"Need at least one sample per split: N={x.shape[0]} < splits={splits}.")
  if x.shape[1] < 1:
    raise ValueError(f"{name} need at least one class (C >= 1); got shape {x.shape}.")
  return x


def _score_from_log_probs(log_p: np.ndarray, splits: int) -> Tuple[float, float]:
  """Mean and std over splits of exp(mean KL(p(y|x) || p(y))), from log p(y|x) [N, C]."""
  n = log_p.shape[0]
  p = np.exp(log_p)
  scores = []
  for i in range(splits):
    part_p = p[i * n // splits:(i + 1) * n // splits]
    part_log_p = log_p[i * n // splits:(i + 1) * n // splits]
    q = part_p.mean(axis=0)  # [C]: the marginal p(y) of this split.
    # q_c == 0 only if every p_c in the split is 0, and those terms are masked below.
    # xlogy-style masking: p (log p - log q) -> 0 where p == 0, instead of 0 * (+-inf) = NaN
    # (the NaNs computed in the masked-out entries are discarded by np.where).
    with np.errstate(divide="ignore", invalid="ignore"):
      log_q = np.log(q)
      terms = np.where(part_p > 0, part_p * (part_log_p - log_q), 0.0)
    scores.append(np.exp(terms.sum(axis=1).mean()))
  scores = np.asarray(scores)
  return float(scores.mean()), float(scores.std())


def inception_score(logits: np.ndarray, splits: int = 1) -> Tuple[float, float]:
  """Inception Score from classifier logits (TF-GAN `classifier_score_from_logits` for splits=1).

  Args:
    logits: [N, C] pre-softmax classifier outputs (Inception: C = 1008, or 1000/1001 in some
      ports), any real dtype; computed in float64.
    splits: number of contiguous splits, 1 <= splits <= N. compare_gan uses 1; the OpenAI
      code and most papers use 10.

  Returns:
    (mean, std) of the per-split scores as Python floats; std is np.std (ddof = 0), so 0.0 for
    splits=1. Scores lie in [1, C].

  Raises:
    ValueError: if logits are not a finite 2-D array or splits is not in [1, N].
  """
  logits = _validate(logits, "logits", splits)
  # log_softmax: subtract the row max before exponentiating so nothing overflows.
  shifted = logits - logits.max(axis=1, keepdims=True)
  log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
  return _score_from_log_probs(log_p, splits)


def inception_score_from_probabilities(probs: np.ndarray, splits: int = 1,
                                       atol: float = 1e-3) -> Tuple[float, float]:
  """Inception Score from class probabilities p(y|x) (e.g. a softmax output saved in float32).

  Prefer `inception_score` on logits: probabilities that underflowed to 0 lose the information
  that log-softmax keeps. Rows are renormalised to sum to 1 in float64.

  Args:
    probs: [N, C] non-negative class probabilities whose rows sum to 1 within `atol`.
    splits: number of contiguous splits, as in `inception_score`.
    atol: tolerated |row sum - 1| (float32 softmax over 1008 classes is off by ~1e-6).

  Returns:
    (mean, std) of the per-split scores, as `inception_score`.

  Raises:
    ValueError: on a malformed array, negative entries or rows that do not sum to 1.
  """
  probs = _validate(probs, "probs", splits)
  if (probs < 0).any():
    raise ValueError(f"probs must be non-negative; got {int((probs < 0).sum())} negative "
                     f"entries (min {probs.min():.3g}).")
  row_sums = probs.sum(axis=1, keepdims=True)
  worst_row = int(np.abs(row_sums[:, 0] - 1.0).argmax())
  if abs(row_sums[worst_row, 0] - 1.0) > atol:
    raise ValueError(f"Each row of probs must sum to 1 (within atol={atol}); row {worst_row} "
                     f"sums to {row_sums[worst_row, 0]:.6g}. Pass logits to inception_score "
                     "instead of unnormalised scores.")
  probs = probs / row_sums
  with np.errstate(divide="ignore"):
    log_p = np.log(probs)  # -inf where p == 0; masked in the KL.
  return _score_from_log_probs(log_p, splits)
