"""The training loop: `compare_gan train` (reference runner_lib `train` schedule).

Reads top to bottom: settings, strategy and data, model and checkpoint, the step function, the
loop with its progress line, NaN guard, summaries and checkpoints. gin surface:

  model.family = @BEGAN                 # the model family: @ModularGAN (default), @BEGAN, @VAE,
                                        # @SSGAN, @S3GAN
  train.batch_size = 64                 # global; split evenly over the replicas
  train.training_steps = 100000         # G updates (steps)
  train.save_checkpoints_steps = 5000   # a checkpoint every N steps (and at the end)
  train.budget_unit = 'generator_updates'  # or 'discriminator_updates': the two settings above
                                        # count D updates, as compare_gan v1/v2 did; they are
                                        # divided by the family's D updates per step (rounded up)
  train.keep_checkpoint_max = 10
  train.seed = 0                        # weights and every random draw; data: dataset.seed
  train.strategy = 'default'            # default | mirrored | multi_worker | tpu
  train.steps_per_loop = 100            # steps per device loop (the reference's
                                        # iterations_per_loop): one host round trip per loop
  train.jit_compile = False             # XLA: on one device the whole step, else the gradients
  train.mixed_precision = None          # 'mixed_bfloat16' | 'mixed_float16'
  train.log_every_steps = 100           # the progress line
  train.summary_every_steps = 250       # TensorBoard scalars
  train.image_summary_every_steps = 1000

The loop knows the family contract (gans/family.py), never a family: it builds the model with
gans/model.py, feeds each step `real_batches_per_step` real batches, writes every loss term the
step returns as a TensorBoard scalar, shows the family's `progress_terms` on the progress line,
and at every checkpoint appends the family's `checkpoint_metrics` (e.g. BEGAN's convergence
measure, `began_convergence`), each averaged over the steps since the previous checkpoint, to
metrics.jsonl with a protocol card that says so (`"source": "training"`). Those records share
the file with evaluation's but never make a step count as scored by an evaluation protocol.

Resume: re-running the same command restores the newest readable checkpoint (the model's
`checkpoint_items()`: networks, optimizers, EMA, BEGAN's k ..., step and the data position) and
continues; the result equals an uninterrupted run. The input pipeline state is one number, the
position in the seeded example stream, so it is restored by restarting the pipeline there
(tf.distribute's iterators cannot be saved).
"""

import dataclasses
import math
import os
import time
from typing import Callable, Dict, List, Optional, Tuple

import gin
import keras
import numpy as np
import tensorflow as tf

from compare_gan import config
from compare_gan import data
from compare_gan import run_dir
from compare_gan.data import base as data_base
from compare_gan.gans import family as family_lib
from compare_gan.gans import latents
from compare_gan.gans import model as model_lib
from compare_gan.training import checkpoints as checkpoints_lib
from compare_gan.training import settings as settings_lib
from compare_gan.training import strategies
from compare_gan.training import summaries as summaries_lib

# A device loop is shortened to about this many seconds once the step time is known (except
# under multi_worker, whose workers must agree on every loop length without talking).
LOOP_SECONDS = 1.0


class Diverged(run_dir.Failure):
  """A loss became NaN or Inf; status.json says `diverged` at that step (exit status 3)."""
  exit_code = run_dir.EXIT_DIVERGED

  def __init__(self, step: int, losses: Dict[str, float]):
    self.step, self.losses = step, losses
    bad = ", ".join(f"{k}={v}" for k, v in losses.items() if not math.isfinite(v))
    super().__init__(f"diverged at step {step}: non-finite loss ({bad})")


@dataclasses.dataclass
class RunResult:
  """How `train` ended; `model` (the family's object, gans/family.py) and `strategy` are the live
  objects (for notebooks and tests)."""
  state: str
  step: int
  model_dir: str
  message: str = ""
  model: Optional[object] = dataclasses.field(default=None, repr=False)
  strategy: Optional[tf.distribute.Strategy] = dataclasses.field(default=None, repr=False)
  # (steps, seconds) of every device loop, the first (tracing) one included.
  loops: List[Tuple[int, float]] = dataclasses.field(default_factory=list, repr=False)


def _format_duration(seconds: float) -> str:
  seconds = int(seconds)
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def _check_unlabelled_examples(model, dataset: data_base.Dataset) -> None:
  """Refuses a labelled fraction < 1 for a conditional family that needs every label, and makes
  the stream fail on an unlabelled example of a label file for it. Only families with
  `accepts_unlabeled_examples` (S3GAN) read label -1 as "unlabelled"; the others would take
  it as an all-zero one-hot."""
  source = dataset.info.labels
  if source is None or not model.conditional or family_lib.accepts_unlabeled_examples(model):
    return
  name = f"a conditional {family_lib.family_name(model)}"
  if source.labeled_fraction < 1.0:
    raise config.ConfigError(
        f"dataset.labeled_fraction = {source.labeled_fraction} leaves training examples "
        f"unlabelled, which {name} cannot train on; use model.family = @S3GAN, or "
        "dataset.labeled_fraction = 1.0.")
  dataset.require_labels(name)


@gin.configurable("train", denylist=["model_dir", "config_text", "dry_run", "log",
                                     "after_checkpoint", "dataset"])
def train(model_dir: str, *, batch_size: int = 64, training_steps: int = gin.REQUIRED,
          save_checkpoints_steps: int = 5000, keep_checkpoint_max: Optional[int] = 10,
          seed: int = 0, strategy: str = "default", tpu: Optional[str] = None,
          jit_compile: bool = False, mixed_precision: Optional[str] = None,
          log_every_steps: int = 100, summary_every_steps: int = 250,
          image_summary_every_steps: int = 1000,
          budget_unit: str = "generator_updates", steps_per_loop: int = 100,
          config_text: Optional[str] = None,
          dry_run: bool = False, log: Callable[[str], None] = print,
          after_checkpoint: Optional[Callable[[int, str], None]] = None,
          dataset: Optional[data_base.Dataset] = None) -> RunResult:
  """Trains the configured GAN in `model_dir`, resuming it when it has checkpoints.

  The gin `train.*` settings are described in the module docstring. `config_text` (the parsed
  gin config) is written to config.gin. `dry_run` builds the data, model and checkpoint,
  reports them and stops before the first step. `after_checkpoint(step, path)` is called
  on the chief after every checkpoint is written (the `train_and_eval` schedule evaluates there).
  `dataset`: the run's dataset when the caller built it already (default: gin `dataset.*`).

  Any failure but divergence is recorded in status.json as `failed`, with its message, before
  it propagates.

  Raises:
    Diverged: a loss became NaN/Inf (status.json records the step; checkpoints stay intact).
  """
  settings = dict(locals())
  lock = run_dir.run_lock(model_dir)
  try:
    return _train(lock=lock, **settings)
  except Diverged:
    raise
  except BaseException as e:
    if lock.held:  # Only the trainer that holds the run writes its status.
      _record_failure(model_dir, training_steps, e, log)
    raise
  finally:
    lock.release()


def _record_failure(model_dir: str, training_steps: int, error: BaseException,
                    log: Callable[[str], None]) -> None:
  """Writes status.json `interrupted` (SIGINT, SIGTERM) or `failed` with the error's first
  line. A status that cannot be written (a full disk, a read-only directory) is logged, never
  raised: it must not hide the error being reported."""
  if isinstance(error, run_dir.Terminated):
    state, message = "interrupted", "terminated (SIGTERM)"
  elif isinstance(error, KeyboardInterrupt):
    state, message = "interrupted", "interrupted (SIGINT)"
  else:
    state, message = "failed", run_dir.one_line(error)
  try:
    previous = run_dir.read_status(model_dir) or {}
    run_dir.write_status(model_dir, state, previous.get("step", 0), training_steps, message)
  except Exception as e:  # pylint: disable=broad-except
    log(f"WARNING: cannot record {state!r} in {os.path.join(model_dir, run_dir.STATUS)}: "
        f"{run_dir.one_line(e)}")


def _train(model_dir: str, *, lock: run_dir.DirectoryLock, batch_size: int, training_steps: int,
           save_checkpoints_steps: int, keep_checkpoint_max: Optional[int], seed: int,
           strategy: str, tpu: Optional[str], jit_compile: bool, mixed_precision: Optional[str],
           log_every_steps: int, summary_every_steps: int, image_summary_every_steps: int,
           budget_unit: str, steps_per_loop: int, config_text: Optional[str], dry_run: bool,
           log: Callable[[str], None],
           after_checkpoint: Optional[Callable[[int, str], None]],
           dataset: Optional[data_base.Dataset]) -> RunResult:
  # ------------------------------------------------------------------------------------------
  # Settings
  # ------------------------------------------------------------------------------------------
  for name, value in [("batch_size", batch_size), ("training_steps", training_steps),
                      ("save_checkpoints_steps", save_checkpoints_steps),
                      ("log_every_steps", log_every_steps),
                      ("summary_every_steps", summary_every_steps),
                      ("image_summary_every_steps", image_summary_every_steps),
                      ("steps_per_loop", steps_per_loop), ("mixed_precision", mixed_precision),
                      ("budget_unit", budget_unit), ("strategy", strategy)]:
    message = settings_lib.problem(name, value)
    if message:
      raise config.ConfigError(message)
  keras.mixed_precision.set_global_policy(mixed_precision or "float32")
  if not dry_run:
    tf.io.gfile.makedirs(model_dir)

  # ------------------------------------------------------------------------------------------
  # Strategy and data
  # ------------------------------------------------------------------------------------------
  strategy_obj = strategies.make_strategy(strategy, tpu)
  chief = strategies.is_chief(strategy_obj)
  if chief and not dry_run:
    lock.acquire()  # Before the run is written to: a second trainer is refused here.
  replicas = strategy_obj.num_replicas_in_sync
  if batch_size % replicas:
    raise config.ConfigError(f"train.batch_size={batch_size} is not divisible by the {replicas} "
                             "replicas; use a multiple of the replica count.")
  per_replica_batch = batch_size // replicas
  # Whole-step XLA on one device: the optimizer apply, EMA and layer-state writes join the
  # gradient maths in one cluster. With several replicas (Mirrored) only the gradient maths
  # is compiled, the all-reduces stay outside; a TPU compiles everything anyway.
  whole_step_xla = jit_compile and replicas == 1 and not isinstance(
      strategy_obj, tf.distribute.TPUStrategy)
  fixed_loops = strategy == "multi_worker"
  dataset = dataset if dataset is not None else data.get_dataset()
  info = dataset.info

  # ------------------------------------------------------------------------------------------
  # Model and checkpoint
  # ------------------------------------------------------------------------------------------
  with strategy_obj.scope():
    model = model_lib.build(info.image_shape, info.num_classes, seed=seed,
                            jit_compile=jit_compile)
  _check_unlabelled_examples(model, dataset)
  with strategy_obj.scope():
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    data_position = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_position",
                                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
  checkpoint = tf.train.Checkpoint(step=step, data_position=data_position,
                                   **model.checkpoint_items())
  ckpt_dir = os.path.join(model_dir, run_dir.CHECKPOINTS)
  if not chief:  # Non-chief workers must save too (collectives); their copies are scratch.
    ckpt_dir = os.path.join(model_dir, "workers", str(strategy_obj.cluster_resolver.task_id))
  manager = checkpoints_lib.Checkpoints(checkpoint, ckpt_dir, keep_checkpoint_max, log=log)
  restored = manager.restore_latest()
  start_step = int(step.numpy())
  family = family_lib.family_name(model)
  if budget_unit == "discriminator_updates":
    # v1/v2 counted D updates: N of them are ceil(N / k) steps of k D updates each.
    per_step = max(1, int(model.disc_iters))  # The VAE: one update per step.
    given = (training_steps, save_checkpoints_steps)
    training_steps, save_checkpoints_steps = (-(-n // per_step) for n in given)
    log(f"budget: {given[0]} D updates, a checkpoint every {given[1]}, at {per_step} per "
        f"{family} step: {training_steps} steps, a checkpoint every {save_checkpoints_steps}")
  real_batches = family_lib.real_batches_per_step(model)
  examples_per_step = real_batches * batch_size
  if start_step and int(data_position.numpy()) != start_step * examples_per_step:
    raise config.ConfigError(
        f"cannot resume from {restored}: it was trained with "
        f"{int(data_position.numpy()) // start_step} examples per step, this config gives "
        f"{examples_per_step} ({real_batches} real batches per {family} step with "
        f"{family}.disc_iters={model.disc_iters}, x train.batch_size={batch_size}); restore "
        f"the run's settings (see {run_dir.CONFIG} there) or train in a new --model_dir.")
  if chief and config_text is not None and not dry_run:
    # Written once the checkpoint is known to fit, so a refused resume keeps the run's config.
    diff = run_dir.write_config(model_dir, config_text)
    if diff:
      log("WARNING: this config differs from the one the run started with (kept as "
          "config.previous.gin); a resumed run is exact only under the same config:\n" + diff)
  log(f"{'resumed from ' + restored if restored else 'starting'} at step {start_step} of "
      f"{training_steps}: {family} ({model.architecture.name}) on {info.name} "
      f"{info.image_shape}, {replicas} replica(s) x batch {per_replica_batch}, "
      f"{family_lib.parameter_summary(model)}")
  status_extra = dict(replicas=replicas, batch_size=batch_size)
  if dry_run:
    log("dry run: configuration is valid; no step taken")
    return RunResult("dry_run", start_step, model_dir, model=model, strategy=strategy_obj)
  if start_step >= training_steps:
    log(f"already trained: step {start_step} >= train.training_steps={training_steps}; "
        "raise train.training_steps to continue")
    if chief:
      run_dir.write_status(model_dir, "done", start_step, training_steps, "already trained",
                           **status_extra)
    return RunResult("done", start_step, model_dir, "already trained", model=model,
                     strategy=strategy_obj)
  if chief:
    run_dir.write_status(model_dir, "running", start_step, training_steps, **status_extra)

  seed_tensor = tf.constant([seed, 0], tf.int64)
  distributed = strategy_obj.distribute_datasets_from_function(
      lambda ctx: dataset.train_input(per_replica_batch_size=per_replica_batch,
                                      seed=dataset.seed, start_position=int(data_position.numpy()),
                                      input_context=ctx))
  iterator = iter(distributed)

  # ------------------------------------------------------------------------------------------
  # The step function and the device loop
  # ------------------------------------------------------------------------------------------
  def one_step(iterator):
    batches = [next(iterator) for _ in range(real_batches)]
    terms = strategy_obj.run(replica_step, args=(batches, step.read_value()))
    terms = {k: strategy_obj.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
             for k, v in terms.items()}
    step.assign_add(1)
    data_position.assign_add(examples_per_step)
    return terms

  # Not converted by autograph: the families' steps spell their tensor control flow out
  # (tf.cond, tf.where), and converting them cost ~1.5 s of tracing per run.
  @tf.autograph.experimental.do_not_convert
  def replica_step(batches, current_step):
    return model.train_step(batches, current_step, seed_tensor, batch_size)

  if whole_step_xla:  # One XLA cluster: gradients, optimizer apply, EMA, layer states.
    replica_step = tf.function(replica_step, jit_compile=True)

  term_names = []  # Filled while tracing: the order of the columns of the loop's output.

  @tf.function
  def train_loop(iterator, count):
    """Runs up to `count` steps on the device and returns (steps run, their terms [n, T]).
    It stops after the first step with a non-finite term (the NaN guard, on the device), so
    a diverged run stops at the same step whatever the loop length."""
    rows = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
    i, finite = tf.constant(0), tf.constant(True)
    while i < count and finite:
      terms = one_step(iterator)
      term_names[:] = sorted(terms)
      row = tf.stack([tf.cast(terms[k], tf.float32) for k in term_names])
      rows = rows.write(i, row)
      finite = tf.reduce_all(tf.math.is_finite(row))
      i += 1
    return i, rows.stack()

  sample_z = model.z.sample([64, model.z_dim], latents.derive_seed(seed_tensor, latents.SUMMARY_Z))
  sample_labels = (tf.range(64) % model.num_classes) if model.conditional else None

  @tf.function
  def sample_images():
    out = strategy_obj.run(lambda: model.sample(sample_z, sample_labels))
    return strategy_obj.experimental_local_results(out)[0]

  summaries = summaries_lib.Summaries(os.path.join(model_dir, run_dir.TENSORBOARD),
                                      enabled=chief)
  if chief and start_step == 0:
    real = next(iter(dataset.train_input(per_replica_batch_size=64, seed=dataset.seed)))["images"]
    summaries.picture(0, "real", real.numpy())

  # ------------------------------------------------------------------------------------------
  # The loop
  # ------------------------------------------------------------------------------------------
  current = start_step
  window_start, window_steps = time.time(), 0
  shown_terms = family_lib.progress_terms(model)
  checkpoint_metrics = family_lib.checkpoint_metrics(model)
  since_checkpoint: Dict[str, list] = {term: [] for term in checkpoint_metrics}
  # A loop ends at the next step that logs, writes a summary or a checkpoint, or ends the run,
  # so each of them happens exactly at its step whatever the loop length.
  boundaries = (log_every_steps, summary_every_steps, image_summary_every_steps,
                save_checkpoints_steps)
  step_seconds = None  # Measured on the previous loop; the first loop (tracing) runs 1 step.
  loops: List[Tuple[int, float]] = []
  try:
    while current < training_steps:
      upto = min([training_steps] + [(current // k + 1) * k for k in boundaries])
      count = min(steps_per_loop, upto - current)
      if step_seconds is None:
        count = 1  # The first loop traces; its time bounds the next loop's length.
      elif not fixed_loops:
        # Keep a loop near LOOP_SECONDS on slow models, so that Ctrl-C, SIGTERM and the
        # progress line stay responsive; the weights do not depend on the loop lengths.
        count = min(count, max(1, int(LOOP_SECONDS / max(step_seconds, 1e-9))))
      loop_start = time.time()
      try:
        ran, rows = train_loop(iterator, tf.constant(count, tf.int32))
        # The one host read per loop: the per-step terms, for the progress line, the
        # summaries and the checkpoint metrics. It waits for the loop to finish.
        ran, rows = int(ran), rows.numpy()
      except tf.errors.OpError as e:  # A bad input file: the pipeline's line names it.
        line = data_base.input_error_line(e)
        if line is None:
          raise
        raise run_dir.Failure(line) from None
      loops.append((ran, time.time() - loop_start))
      step_seconds = loops[-1][1] / max(ran, 1)
      if len(loops) == 1:
        log(f"traced the training loop and ran step {current + ran} in {loops[0][1]:.1f} s")
      current += ran
      window_steps += ran
      values = {k: float(v) for k, v in zip(term_names, rows[-1])}
      if not all(math.isfinite(v) for v in values.values()):
        raise Diverged(current, values)
      for term, kept in since_checkpoint.items():
        kept.extend(float(v) for v in rows[:, term_names.index(term)])
      if current == start_step + ran and chief:
        run_dir.write_atomically(os.path.join(model_dir, run_dir.OPERATIVE_CONFIG),
                                 gin.operative_config_str())
      if current % log_every_steps == 0 or current == training_steps:
        elapsed = time.time() - window_start
        rate = window_steps / max(elapsed, 1e-9)
        log(f"step {current}/{training_steps} ({100.0 * current / training_steps:.1f}%) | "
            f"{rate:.2f} steps/s | {rate * examples_per_step:.0f} img/s | ETA "
            f"{_format_duration((training_steps - current) / rate)} | "
            + " ".join(f"{t} {values[t]:.4f}" for t in shown_terms
                       if t in values and (t != "penalty" or values[t])))
        summaries.scalars(current, {"speed/steps_per_sec": rate,
                                    "speed/images_per_sec": rate * examples_per_step})
        window_start, window_steps = time.time(), 0
      if current % summary_every_steps == 0:
        summaries.scalars(current, values)
      if current % image_summary_every_steps == 0 or current == training_steps:
        summaries.picture(current, "samples", sample_images().numpy())
      if current % save_checkpoints_steps == 0 or current == training_steps:
        path = manager.save(current)
        if chief and checkpoint_metrics:
          run_dir.append_metrics(model_dir, _checkpoint_metric_records(
              checkpoint_metrics, since_checkpoint, current, path, model_dir, info.name,
              batch_size))
        for kept in since_checkpoint.values():
          kept.clear()
        if chief:
          run_dir.write_status(model_dir, "running", current, training_steps,
                               checkpoint=path, **status_extra)
          if after_checkpoint is not None:
            after_checkpoint(current, path)
  except Diverged as e:
    saved = checkpoints_lib.list_checkpoints(model_dir) if chief else {}
    log(f"ERROR: {e}; " + (f"the checkpoints up to step {max(saved)} are intact" if saved
                           else "no checkpoint was written before it"))
    if chief:
      run_dir.write_status(model_dir, "diverged", e.step, training_steps, str(e),
                           losses={k: repr(v) for k, v in e.losses.items()}, **status_extra)
    summaries.flush()
    raise
  summaries.flush()
  if chief:
    run_dir.write_status(model_dir, "done", current, training_steps, **status_extra)
  log(f"done: {current} steps in {model_dir}")
  return RunResult("done", current, model_dir, model=model, strategy=strategy_obj, loops=loops)


def _checkpoint_metric_records(metrics: Dict[str, tuple], since_checkpoint: Dict[str, list],
                               step: int, path: str, model_dir: str, dataset: str,
                               batch_size: int) -> list:
  """metrics.jsonl records (the evaluation's format, metrics/results.py) of the family's
  checkpoint metrics: each term's mean (and std) over the `n` steps since the previous
  checkpoint, with the family's protocol card plus the steps, batch size and dataset."""
  records = []
  for term, (metric, card) in metrics.items():
    kept = since_checkpoint[term]
    records.append(dict(
        step=step, checkpoint=os.path.relpath(path, model_dir), metric=metric,
        value=float(np.mean(kept)), std=float(np.std(kept)), values=[float(np.mean(kept))],
        n=len(kept), status="ok", evaluated=run_dir.now(),
        protocol=dict(card, steps=[step - len(kept) + 1, step], batch_size=batch_size,
                      dataset=dataset)))
  return records
