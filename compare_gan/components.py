"""Imports every gin-registered component and describes them (`compare_gan components`)."""

import inspect
from typing import Dict, List, Tuple

from compare_gan import architectures
from compare_gan import datasets
from compare_gan import gin_externals
from compare_gan.architectures import normalization
from compare_gan.gans import losses
from compare_gan.gans import penalties

NORMALIZERS = (normalization.no_batch_norm, normalization.batch_norm,
               normalization.conditional_batch_norm, normalization.self_modulated_batch_norm)


def _summary(obj) -> str:
  """The first paragraph of obj's docstring, on one line."""
  doc = inspect.getdoc(obj) or ""
  return " ".join(doc.split("\n\n")[0].split())


def catalogue() -> Dict[str, List[Tuple[str, str]]]:
  """{kind: [(gin reference, one-line description)]} for every registered component."""
  return {
      "losses (loss.fn)": [(f"@{fn.__name__}", _summary(fn)) for fn in losses.LOSSES],
      "penalties (penalty.fn)": [(f"@{fn.__name__}", _summary(fn))
                                 for fn in penalties.PENALTIES],
      "normalizers (G.batch_norm_fn, D.batch_norm_fn)": [
          (f"@{fn.__name__}", _summary(fn)) for fn in NORMALIZERS],
      "architectures": [(f"@{name}()", _summary(inspect.getmodule(arch.generator)))
                        for name, arch in sorted(architectures.ARCHITECTURES.items())],
      "optimizers": [(f"@tf.keras.optimizers.{name}", "Keras optimizer (scope it: "
                      f"@generator/tf.keras.optimizers.{name})")
                     for name in gin_externals.OPTIMIZERS],
      "distributions (z.distribution_fn)": [(f"@tf.random.{name}", "")
                                            for name in gin_externals.RANDOM],
      "datasets (dataset.name)": [(repr(name), "") for name in sorted(datasets.DATASETS)],
  }
