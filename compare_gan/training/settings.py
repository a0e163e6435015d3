"""The `train.*` settings' valid values, checked without TensorFlow.

training/loop.py checks its arguments here, and the CLI's fast config check
(compare_gan/registry.py) checks the literal `train.*` values of a config here before
TensorFlow is imported, so a bad value is reported in a fraction of a second with the same line.
"""

from typing import Any, Optional

PRECISIONS = (None, "float32", "mixed_bfloat16", "mixed_float16")
BUDGET_UNITS = ("generator_updates", "discriminator_updates")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# Counts that must be integers >= 1 (training_steps may be 0: a run that only restores).
POSITIVE = ("batch_size", "save_checkpoints_steps", "log_every_steps", "summary_every_steps",
            "image_summary_every_steps", "steps_per_loop")
NON_NEGATIVE = ("training_steps",)


def _choices(values) -> str:
  return ", ".join(map(repr, values))


def problem(name: str, value: Any) -> Optional[str]:
  """The one-line message for a bad value of `train.<name>`, or None when it is valid or
  `name` is not checked here."""
  if name in POSITIVE or name in NON_NEGATIVE:
    least = 1 if name in POSITIVE else 0
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
      kind = "a positive integer" if least else "an integer >= 0"
      return f"train.{name}={value!r} must be {kind}."
  elif name == "mixed_precision" and value not in PRECISIONS:
    return f"train.mixed_precision={value!r}; valid: {_choices(PRECISIONS)}."
  elif name == "budget_unit" and value not in BUDGET_UNITS:
    return f"train.budget_unit={value!r}; valid: {_choices(BUDGET_UNITS)}."
  elif name == "strategy" and value not in STRATEGIES:
    return f"Unknown strategy {value!r}; valid: {', '.join(STRATEGIES)}."
  return None
