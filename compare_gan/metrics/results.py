"""A run's evaluation results: metrics.jsonl, scores.csv and TensorBoard (DESIGN section 6).

metrics.jsonl holds one JSON object per evaluated (step, metric):

  {"step": 5000, "checkpoint": "checkpoints/ckpt-5000", "metric": "fid_score",
   "value": 31.2, "std": 0.14, "values": [31.1, 31.4, 31.2], "n": 10000, "status": "ok",
   "protocol": {...}, "evaluated": "2026-11-23T10:00:00+00:00"}

`status` is "ok", or "non_finite_output" (the generator produced NaN/Inf; value, std are null).
The file only grows: re-evaluating a step appends new lines and readers take the newest line
per (step, metric). Lines are written by rewriting the whole file atomically, so a killed
evaluation never leaves a torn line; a line that does not parse anyway (a hand edit) is
skipped with a warning, never fatal.

scores.csv is derived from metrics.jsonl after every evaluation, in the reference's columns:
checkpoint_path, step, then <metric>_mean, <metric>_std, <metric>_list ("_"-joined values) for
every metric (sorted), then every gin parameter of operative_config.gin as `scope/selector.arg`
(sorted), one row per step.
"""

import csv
import io
import json
import logging
import os
from typing import Dict, List, Set, Tuple

from compare_gan import run_dir

# Keys of a feature extractor's card that say where its files lie, not what they are.
LOCATION_KEYS = ("source", "weights_file", "archive")


def protocol_key(card: dict) -> str:
  """What identifies a protocol card for "is this value already computed?": the card as JSON,
  without where the feature extractor's files lie (the same weights elsewhere are the same
  protocol). A record is scored under the current protocol when its (metric, key) is the
  current one."""
  card = json.loads(json.dumps(card or {}, sort_keys=True))  # As metrics.jsonl holds it.
  extractor = card.get("feature_extractor")
  if isinstance(extractor, dict):
    card["feature_extractor"] = {k: v for k, v in extractor.items()
                                 if k not in LOCATION_KEYS}
  return json.dumps(card, sort_keys=True)


def scored_steps(model_dir: str, wanted: Set[Tuple[str, str]]) -> Set[int]:
  """Steps of model_dir/metrics.jsonl that hold a record of every (metric, protocol key) in
  `wanted`: a metric added to the protocol later, or a changed protocol, leaves a step
  unscored."""
  have: Dict[int, Set[Tuple[str, str]]] = {}
  for r in run_dir.read_metrics(model_dir):
    have.setdefault(int(r["step"]), set()).add((r["metric"], protocol_key(r.get("protocol"))))
  return {step for step, keys in have.items() if wanted <= keys}


def record(model_dir: str, records: List[dict]) -> None:
  """Appends `records` to metrics.jsonl, rewrites scores.csv, writes TensorBoard scalars."""
  if not records:
    return
  run_dir.append_metrics(model_dir, records)
  write_scores_csv(model_dir)
  import tensorflow as tf  # Only the TensorBoard scalars need it.
  writer = tf.summary.create_file_writer(os.path.join(model_dir, run_dir.EVAL_TENSORBOARD))
  with writer.as_default():
    for r in records:
      if r.get("value") is not None:
        tf.summary.scalar(f"eval/{r['metric']}", r["value"], step=int(r["step"]))
  writer.flush()
  writer.close()


def gin_parameters(model_dir: str) -> Dict[str, str]:
  """`scope/selector.arg` -> value text of every binding in operative_config.gin (or
  config.gin before the first step)."""
  import gin
  path, text = run_dir.read_config(model_dir)
  if text is None:
    return {}
  params = {}
  try:
    parser = gin.config_parser.ConfigParser(text, gin.config.ParserDelegate(skip_unknown=True))
    for statement in parser:
      if isinstance(statement, gin.config_parser.BindingStatement):
        selector = f"{statement.scope}/{statement.selector}" if statement.scope else (
            statement.selector)
        key = f"{selector}.{statement.arg_name}" if statement.arg_name else selector  # a macro
        params[key] = _value_text(statement.value)
  except (SyntaxError, ValueError) as e:
    logging.warning("cannot parse %s for scores.csv (%s); gin columns left out", path, e)
  return dict(sorted(params.items()))


def _value_text(value) -> str:
  """A parsed gin value as config text: references as `@name()`, containers recursively."""
  if isinstance(value, str):
    return repr(value)
  if isinstance(value, (list, tuple)):
    inner = ", ".join(_value_text(v) for v in value)
    return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
  if isinstance(value, dict):
    return "{" + ", ".join(f"{_value_text(k)}: {_value_text(v)}" for k, v in value.items()) + "}"
  if hasattr(value, "selector") and not hasattr(value, "scoped_selector"):
    return f"@{value.selector}" + ("()" if getattr(value, "evaluate", False) else "")
  return repr(value)


def write_scores_csv(model_dir: str) -> None:
  by_step = run_dir.latest_metrics(run_dir.read_metrics(model_dir))
  metrics = sorted({m for per in by_step.values() for m in per})
  params = gin_parameters(model_dir)
  header = ["checkpoint_path", "step"] + [f"{m}_{s}" for m in metrics
                                          for s in ("mean", "std", "list")] + list(params)
  out = io.StringIO()
  writer = csv.writer(out)
  writer.writerow(header)
  for step, per in by_step.items():
    checkpoint = next(iter(per.values())).get("checkpoint", "")
    row = [os.path.join(model_dir, checkpoint) if checkpoint else "", step]
    for m in metrics:
      r = per.get(m)
      if r is None:
        row += ["", "", ""]
      elif r.get("value") is None:
        row += ["nan", "nan", ""]
      else:
        row += [f"{r['value']:.6g}", f"{r['std']:.6g}",
                "_".join(f"{v:.6g}" for v in r.get("values", []))]
    row += list(params.values())
    writer.writerow(row)
  run_dir.write_atomically(os.path.join(model_dir, run_dir.SCORES), out.getvalue())
