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
import datetime
import io
import json
import logging
import os
from typing import Dict, List, Set

import tensorflow as tf

from compare_gan.training import run_dir

METRICS = "metrics.jsonl"
SCORES = "scores.csv"
EVAL_TENSORBOARD = os.path.join(run_dir.TENSORBOARD, "eval")


def now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def read_metrics(model_dir: str) -> List[dict]:
  """Every record of model_dir/metrics.jsonl, in file order (unparsable lines skipped)."""
  path = os.path.join(model_dir, METRICS)
  if not tf.io.gfile.exists(path):
    return []
  records = []
  with tf.io.gfile.GFile(path) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
        if not isinstance(record, dict) or "step" not in record or "metric" not in record:
          raise ValueError("not a metric record")
      except ValueError as e:
        logging.warning("%s line %d is not a metric record (%s); skipped", path, number, e)
        continue
      records.append(record)
  return records


def latest(records: List[dict]) -> Dict[int, Dict[str, dict]]:
  """step -> metric -> the newest record of that (step, metric)."""
  out: Dict[int, Dict[str, dict]] = {}
  for r in records:
    out.setdefault(int(r["step"]), {})[r["metric"]] = r
  return dict(sorted(out.items()))


def evaluated_steps(model_dir: str) -> Set[int]:
  return set(latest(read_metrics(model_dir)))


def record(model_dir: str, records: List[dict]) -> None:
  """Appends `records` to metrics.jsonl, rewrites scores.csv, writes TensorBoard scalars."""
  if not records:
    return
  path = os.path.join(model_dir, METRICS)
  old = ""
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      old = f.read()
    if old and not old.endswith("\n"):
      old += "\n"
  new = "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in records)
  run_dir.write_atomically(path, old + new)
  write_scores_csv(model_dir)
  writer = tf.summary.create_file_writer(os.path.join(model_dir, EVAL_TENSORBOARD))
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
  for name in (run_dir.OPERATIVE_CONFIG, run_dir.CONFIG):
    path = os.path.join(model_dir, name)
    if tf.io.gfile.exists(path):
      with tf.io.gfile.GFile(path) as f:
        text = f.read()
      break
  else:
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
  by_step = latest(read_metrics(model_dir))
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
  run_dir.write_atomically(os.path.join(model_dir, SCORES), out.getvalue())
