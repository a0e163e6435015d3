"""The evaluation protocol: how a checkpoint is scored (gin `evaluation.*`).

The protocol is the reference's (compare_gan v3 `eval_gan_lib.evaluate_tfhub_module`) by
default; gin `evaluation.*` changes it:

  evaluation.num_fake = None            # fake samples per run; None: the dataset's eval_size
                                        # (10k; 30k LSUN; 3k CelebA-HQ)
  evaluation.num_real = None            # first N of the real split; None: num_fake
  evaluation.real_split = None          # None: the dataset's eval split
  evaluation.num_averaging_runs = 3     # independent fake sets -> mean/std/list
  evaluation.batch_size = 64
  evaluation.seed = 42                  # z and labels of every run
  evaluation.use_ema = None             # None: EMA weights when trained with EMA
  evaluation.bn_accumulation_samples = 204800   # for `standardize_batch.use_moving_averages
                                        # = False` (accumulated statistics), as the reference
  evaluation.cache_dir = None           # real-feature cache; None: $COMPARE_GAN_CACHE_DIR
                                        # or ~/.cache/compare_gan, subdirectory features/
  evaluation.metrics = None             # list of @task(); None: tasks.default_tasks
  eval_z.distribution_fn = None         # eval z; unset: the training z (gans/latents.py)
  inception.weights = None              # Inception weights (metrics/inception/), and
  inception.quantize = False            # rounding of x255 images to integers before it

The protocol card of every recorded value (metrics.jsonl) holds these settings, the dataset
fingerprint and the feature extractor (metrics/evaluate.py).
"""

import dataclasses
from typing import List, Optional

import gin

from compare_gan import config
from compare_gan.data import base
from compare_gan.metrics import tasks as tasks_lib


@dataclasses.dataclass
class Protocol:
  """How a checkpoint is scored (see the module docstring for each field)."""
  num_fake: Optional[int] = None
  num_real: Optional[int] = None
  real_split: Optional[str] = None
  num_averaging_runs: int = 3
  batch_size: int = 64
  seed: int = 42
  use_ema: Optional[bool] = None
  bn_accumulation_samples: int = 204800
  cache_dir: Optional[str] = None
  metrics: Optional[List[tasks_lib.Task]] = None


@gin.configurable("evaluation")
def evaluation_protocol(num_fake: Optional[int] = None, num_real: Optional[int] = None,
                        real_split: Optional[str] = None, num_averaging_runs: int = 3,
                        batch_size: int = 64, seed: int = 42, use_ema: Optional[bool] = None,
                        bn_accumulation_samples: int = 204800,
                        cache_dir: Optional[str] = None,
                        metrics: Optional[List[tasks_lib.Task]] = None) -> Protocol:
  """gin `evaluation.*`: the evaluation protocol (fields of `Protocol`)."""
  return Protocol(num_fake=num_fake, num_real=num_real, real_split=real_split,
                  num_averaging_runs=num_averaging_runs, batch_size=batch_size, seed=seed,
                  use_ema=use_ema, bn_accumulation_samples=bn_accumulation_samples,
                  cache_dir=cache_dir,
                  metrics=None if metrics is None else list(metrics))


def validate(protocol: Protocol) -> None:
  """Raises ValueError naming the first invalid `evaluation.*` setting."""
  for name in ("num_averaging_runs", "batch_size"):
    base.positive_int(f"evaluation.{name}", getattr(protocol, name))
  for name in ("num_fake", "num_real"):
    if getattr(protocol, name) is not None:
      base.positive_int(f"evaluation.{name}", getattr(protocol, name))
  if not isinstance(protocol.bn_accumulation_samples, int) or protocol.bn_accumulation_samples < 0:
    raise config.ConfigError("evaluation.bn_accumulation_samples must be an integer >= 0; got "
                             f"{protocol.bn_accumulation_samples!r}.")
  if protocol.metrics is not None:
    if not protocol.metrics:
      raise config.ConfigError("evaluation.metrics is empty; list at least one task, e.g. "
                               "[@fid_score()].")
    for task in protocol.metrics:
      if not isinstance(task, tasks_lib.Task):
        raise config.ConfigError(f"evaluation.metrics holds {task!r}, not a metric task; valid: "
                                 + ", ".join(f"@{n}()" for n in tasks_lib.TASKS) + ".")
