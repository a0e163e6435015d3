"""TF Hub export end to end: train tiny runs, export, load in a process where compare_gan cannot
be imported, and compare with the in-process generator; hub.KerasLayer, metadata, EMA vs raw,
repeatable exports, errors and atomicity; `compare_gan sample` and `eval --module` on ours and
on third-party (TF2 signature, TF1 tagged) modules; `train --export_evaluated`."""

import json
import os
import re
import shutil
import subprocess
import sys

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from compare_gan import cli
from compare_gan import config
from compare_gan.hub import export
from compare_gan.hub import modules
from compare_gan.training import checkpoints
from compare_gan.gans import modular_gan
from compare_gan.metrics import evaluate
from compare_gan import run_dir

TRIANGLES = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "examples",
                         "triangles_sndcgan.gin")
Z_DIM = 8
TINY = ["G.width = 0.0625", "D.width = 0.0625", f"ModularGAN.z_dim = {Z_DIM}",
        "G.spectral_norm = True", "ModularGAN.g_use_ema = True"]
# Trained through the CLI: conditional on (mock) MNIST, EMA from the first step, accumulated
# batch-norm statistics in G, evaluated and exported at step 2.
TRAIN = ["train.batch_size = 8", "train.log_every_steps = 1", "train.summary_every_steps = 1",
         "train.image_summary_every_steps = 100", "train.save_checkpoints_steps = 1",
         "train.training_steps = 2", "ModularGAN.ema_start_step = 0", "ModularGAN.ema_decay = 0.5",
         "dataset.name = 'mnist'", "ModularGAN.conditional = True",
         "G.batch_norm_fn = @conditional_batch_norm", "D.project_y = True",
         "standardize_batch.use_moving_averages = False"]
SMALL_EVAL = ["evaluation.metrics = [@sliced_wasserstein()]", "evaluation.num_fake = 32",
              "evaluation.num_averaging_runs = 1", "evaluation.batch_size = 16",
              "evaluation.bn_accumulation_samples = 32", "sliced_wasserstein.num_projections = 8"]


def _bindings(flags):
  return [a for b in flags for a in ("--gin_bindings", b)]


def _cli(*argv):
  gin.clear_config()
  return cli.main([str(a) for a in argv])


def _latents(seed, n, num_classes=None):
  rng = np.random.default_rng(seed)
  z = rng.uniform(-1, 1, (n, Z_DIM)).astype(np.float32)
  return z, (None if num_classes is None else rng.integers(0, num_classes, n).astype(np.int32))


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
  """An unconditional triangles run directory written in process as a mixed-bfloat16 run
  (config.gin, checkpoints at steps 1 and 3 in the training layout, EMA weights moved away from
  the raw ones), its EMA and raw exports, and the outputs of a float32 twin of the model."""
  root = tmp_path_factory.mktemp("ema")
  model_dir = str(root / "run")
  gin.clear_config()
  os.makedirs(model_dir)
  run_dir.write_config(model_dir, config.parse_gin([TRIANGLES], TINY))
  keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    mixed = modular_gan.ModularGAN((28, 28, 1), None)
  finally:
    keras.mixed_precision.set_global_policy("float32")
  checkpoint = tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64),
                                   data_position=tf.Variable(0, dtype=tf.int64),
                                   **mixed.checkpoint_items())
  manager = checkpoints.Checkpoints(checkpoint, os.path.join(model_dir, "checkpoints"), 5,
                                    log=lambda s: None)
  for step in (1, 3):
    for i, ema in enumerate(mixed.generator_ema.trainable_variables):
      ema.assign_add(tf.random.stateless_normal(ema.shape, [step, i], stddev=0.05))
    checkpoint.step.assign(step)
    manager.save(step)
  model = modular_gan.ModularGAN((28, 28, 1), None)  # float32, the same weights
  for net in ("generator", "generator_ema", "discriminator"):
    for mine, theirs in zip(getattr(model, net).variables, getattr(mixed, net).variables):
      mine.assign(theirs)
  ref = {}
  for b in (1, 7):
    z, _ = _latents(b, b)
    ref[f"z{b}"] = z
    ref[f"ema{b}"] = model.sample(tf.constant(z)).numpy()
    ref[f"raw{b}"] = model.sample(tf.constant(z), use_ema=False).numpy()
  ref["mixed7"] = np.asarray(mixed.sample(tf.constant(ref["z7"])), np.float32)
  ref["disc"] = model.discriminator(tf.constant(ref["ema7"]), training=False)[0].numpy()
  exporter = export.Exporter(model_dir, log=lambda s: None)
  paths = {name: str(root / name) for name in ("ema", "raw")}
  exporter.export(paths["ema"])
  exporter.export(paths["raw"], use_ema=False)
  gin.clear_config()
  return dict(model_dir=model_dir, ref=ref, **paths)


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
  """Two training steps through `train --schedule eval_after_train --export_evaluated
  --eval_every_steps 2`; reference outputs from the evaluator's own restore and BN
  accumulation of step 2."""
  root = tmp_path_factory.mktemp("cond")
  model_dir = str(root / "run")
  with tfds.testing.mock_data(num_examples=48):
    assert _cli("train", "--model_dir", model_dir, "--gin_config", TRIANGLES, "--schedule",
                "eval_after_train", "--export_evaluated", "--eval_every_steps", 2,
                *_bindings(TINY + TRAIN + SMALL_EVAL)) == 0
    gin.clear_config()
    config.parse_gin([os.path.join(model_dir, "config.gin")], [])
    ev = evaluate.Evaluator(model_dir, log=lambda s: None)
    ev.restore(checkpoints.list_checkpoints(model_dir)[2])
    ev._accumulate_bn()
  ref = {}
  for b in (1, 7):
    z, labels = _latents(10 + b, b, num_classes=10)
    ref[f"z{b}"], ref[f"labels{b}"] = z, labels
    ref[f"gen{b}"] = ev._sample_fn(tf.constant(z), tf.constant(labels)).numpy()
  gin.clear_config()
  return dict(model_dir=model_dir, ref=ref, export=os.path.join(model_dir, "tfhub", "2"))


FRESH_PROCESS = r"""
import importlib.util, json, os, sys
sys.meta_path[:] = [f for f in sys.meta_path
                    if "compare_gan" not in getattr(f, "__module__", "") + repr(f)]
sys.path[:] = [p for p in sys.path if not os.path.isdir(os.path.join(p or ".", "compare_gan"))]
assert importlib.util.find_spec("compare_gan") is None, "compare_gan is importable"
import numpy as np
import tensorflow as tf
import tensorflow_hub as hub

inputs = dict(np.load(sys.argv[1]))
out = {}
for name, path in (("ema", sys.argv[2]), ("cond", sys.argv[3])):
  with open(os.path.join(path, "assets", "compare_gan_metadata.json")) as f:
    meta = json.load(f)
  m = hub.load(path)
  state = [v.numpy().copy() for v in list(m.variables) + list(m.discriminator_variables)]
  for b in (1, 7):
    z = tf.constant(inputs[f"{name}_z{b}"])
    labels = tf.constant(inputs[f"{name}_labels{b}"]) if meta["conditional"] else None
    extra = {} if labels is None else {"labels": labels}
    out[f"{name}_gen{b}"] = m.generator(z, **extra).numpy()
    out[f"{name}_call{b}"] = (m(z) if labels is None else m({"z": z, **extra})).numpy()
    out[f"{name}_serving{b}"] = m.signatures["serving_default"](z=z, **extra)["generated"].numpy()
    out[f"{name}_disc{b}"] = m.discriminator(out[f"{name}_gen{b}"], **extra).numpy()
  after = [v.numpy() for v in list(m.variables) + list(m.discriminator_variables)]
  assert all(np.array_equal(a, b) for a, b in zip(state, after)), "a call changed a variable"
  out[f"{name}_meta"] = np.array(json.dumps(meta))
assert "compare_gan" not in sys.modules
np.savez(sys.argv[4], **out)
print("fresh process OK")
"""


def test_round_trip_in_a_process_without_compare_gan(ema_run, cond_run, tmp_path):
  inputs = {}
  for name, run in (("ema", ema_run), ("cond", cond_run)):
    for b in (1, 7):
      inputs[f"{name}_z{b}"] = run["ref"][f"z{b}"]
      if name == "cond":
        inputs[f"cond_labels{b}"] = run["ref"][f"labels{b}"]
  np.savez(tmp_path / "inputs.npz", **inputs)
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env["TF_CPP_MIN_LOG_LEVEL"] = "3"
  done = subprocess.run(
      [sys.executable, "-c", FRESH_PROCESS, tmp_path / "inputs.npz", ema_run["ema"],
       cond_run["export"], tmp_path / "out.npz"],
      cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "fresh process OK" in done.stdout
  out = np.load(tmp_path / "out.npz")
  for b in (1, 7):
    expected = {"ema": ema_run["ref"][f"ema{b}"], "cond": cond_run["ref"][f"gen{b}"]}
    for name, shape in (("ema", (b, 28, 28, 1)), ("cond", (b, 28, 28, 1))):
      for kind in ("gen", "call", "serving"):
        images = out[f"{name}_{kind}{b}"]
        assert images.shape == shape and images.dtype == np.float32
        assert images.min() >= 0.0 and images.max() <= 1.0
        np.testing.assert_allclose(images, expected[name], atol=1e-5, rtol=0)
      assert out[f"{name}_disc{b}"].shape == (b, 1)
  np.testing.assert_allclose(out["ema_disc7"], ema_run["ref"]["disc"], atol=1e-5, rtol=0)
  assert not np.allclose(out["cond_gen7"][0], out["cond_gen7"][1])  # z and labels matter
  meta = json.loads(str(out["cond_meta"]))
  assert meta["conditional"] and meta["num_classes"] == 10 and meta["step"] == 2
  assert meta["batch_norm"].startswith("accumulated over 32 samples")


def test_keras_layer_serving_signature_and_metadata(ema_run, cond_run):
  import tensorflow_hub as hub
  import tf_keras
  z = ema_run["ref"]["z7"]
  inputs = tf_keras.Input(shape=(Z_DIM,))
  model = tf_keras.Model(inputs, hub.KerasLayer(ema_run["ema"])(inputs))
  np.testing.assert_allclose(model(z).numpy(), ema_run["ref"]["ema7"], atol=1e-5, rtol=0)
  # A conditional module through its serving signature, inputs as a dict.
  z_in = tf_keras.Input(shape=(Z_DIM,), dtype="float32")
  labels_in = tf_keras.Input(shape=(), dtype="int32")
  layer = hub.KerasLayer(cond_run["export"], signature="serving_default", output_key="generated")
  cond_model = tf_keras.Model([z_in, labels_in], layer({"z": z_in, "labels": labels_in}))
  images = cond_model([cond_run["ref"]["z7"], cond_run["ref"]["labels7"]]).numpy()
  np.testing.assert_allclose(images, cond_run["ref"]["gen7"], atol=1e-5, rtol=0)

  with open(os.path.join(ema_run["ema"], "assets", export.METADATA_FILE)) as f:
    meta = json.load(f)
  assert meta["z_dim"] == Z_DIM and meta["image_shape"] == [28, 28, 1]
  assert meta["z_distribution"] == {"kind": "uniform", "minval": -1.0, "maxval": 1.0,
                                    "stddev": 1.0}
  assert not meta["conditional"] and meta["num_classes"] is None
  assert meta["step"] == 3 and meta["generator"] == "ema" and meta["dataset"] == "triangles"
  assert meta["architecture"] == "sndcgan" and meta["batch_norm"] == "moving averages"
  assert meta["config_file"] == "config.gin"  # no operative_config.gin: never trained here
  assert "ModularGAN.g_use_ema = True" in meta["operative_config"]
  assert meta["metrics"] == []  # never evaluated
  # The evaluated conditional run carries its scores with their protocol cards.
  with open(os.path.join(cond_run["export"], "assets", export.METADATA_FILE)) as f:
    cond_meta = json.load(f)
  (record,) = cond_meta["metrics"]
  assert record["metric"] == "swd_pixels" and record["step"] == 2 and record["value"] > 0
  assert record["protocol"]["generator"] == "ema" and record["protocol"]["n_fake"] == 32
  assert cond_meta["generator"] == "ema" and cond_meta["config_file"] == "operative_config.gin"
  assert os.listdir(os.path.join(cond_run["model_dir"], "tfhub")) == ["2"]  # eval_every_steps
  assert run_dir.evaluated_steps(cond_run["model_dir"]) == {2}


def _variables(path):
  reader = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if "OBJECT_GRAPH" not in k}


def test_ema_differs_from_raw_and_exports_are_float32(ema_run):
  z = tf.constant(ema_run["ref"]["z7"])
  # Keep each loaded object alive while its functions run (they do not own the variables).
  loaded = {k: tf.saved_model.load(ema_run[k]) for k in ("ema", "raw")}
  ema, raw = (loaded[k].generator(z).numpy() for k in ("ema", "raw"))
  assert np.abs(ema - raw).max() > 1e-4
  np.testing.assert_allclose(raw, ema_run["ref"]["raw7"], atol=1e-5, rtol=0)
  with open(os.path.join(ema_run["raw"], "assets", export.METADATA_FILE)) as f:
    assert json.load(f)["generator"] == "raw"
  # The run was mixed bfloat16; its export computes in float32 (bfloat16 would differ).
  assert ema.dtype == np.float32 and np.abs(ema - ema_run["ref"]["mixed7"]).max() > 1e-4
  for name in ("generator", "discriminator"):
    graph = getattr(loaded["ema"], name).concrete_functions[0].graph
    assert not [op.name for op in graph.get_operations()
                if any(t.dtype in (tf.bfloat16, tf.float16) for t in op.outputs)]


def test_export_errors_name_the_problem_and_leave_nothing_behind(ema_run, tmp_path, capsys,
                                                                 monkeypatch):
  empty = tmp_path / "empty"
  empty.mkdir()
  assert _cli("export", "--model_dir", empty, "--export_dir", tmp_path / "x") == 2
  assert "config.gin does not exist" in capsys.readouterr().err
  no_checkpoints = tmp_path / "no_checkpoints"
  no_checkpoints.mkdir()
  with open(os.path.join(ema_run["model_dir"], "config.gin")) as f:
    (no_checkpoints / "config.gin").write_text(f.read())
  assert _cli("export", "--model_dir", no_checkpoints, "--export_dir", tmp_path / "x") == 1
  assert "No checkpoints in" in capsys.readouterr().err
  assert _cli("export", "--model_dir", ema_run["model_dir"], "--export_dir", tmp_path / "x",
              "--step", 5) == 2
  err = capsys.readouterr().err
  assert "No checkpoint for step 5" in err and "available steps: [1, 3]" in err
  taken = tmp_path / "taken"
  taken.mkdir()
  (taken / "keep.txt").write_text("mine")
  for overwrite in ([], ["--overwrite"]):  # Not an export: --overwrite does not replace it.
    assert _cli("export", "--model_dir", ema_run["model_dir"], "--export_dir", taken,
                *overwrite) == 2
    err = capsys.readouterr().err
    assert str(taken) in err and "--overwrite only replaces a previous export" in err
    assert os.listdir(taken) == ["keep.txt"]
  target = tmp_path / "previous"
  shutil.copytree(ema_run["ema"], target)
  previous = {p: (target / p).read_bytes() for p in ("saved_model.pb",
                                                     "variables/variables.index",
                                                     f"assets/{export.METADATA_FILE}")}

  seen = []

  def broken_save(obj, path, signatures=None):
    seen.append((hasattr(obj, "discriminator"), sorted(signatures)))
    os.makedirs(os.path.join(path, "variables"))
    with open(os.path.join(path, "saved_model.pb"), "w") as f:
      f.write("half")
    raise OSError("disk full")

  monkeypatch.setattr(tf.saved_model, "save", broken_save)
  assert _cli("export", "--model_dir", ema_run["model_dir"], "--export_dir", target,
              "--overwrite", "--no_discriminator") == 1
  assert "disk full" in capsys.readouterr().err
  assert seen == [(False, ["serving_default"])]  # --no_discriminator: G only
  assert sorted(os.listdir(tmp_path)) == ["empty", "no_checkpoints", "previous", "taken"]
  for p, content in previous.items():  # the old export survives a failed overwrite
    assert (target / p).read_bytes() == content
  monkeypatch.undo()

  # A successful overwrite; exporting the same step again gives the same module.
  assert _cli("export", "--model_dir", ema_run["model_dir"], "--export_dir", target,
              "--overwrite", "--step", 3, "--no_ema") == 0
  assert sorted(os.listdir(tmp_path)) == ["empty", "no_checkpoints", "previous", "taken"]
  first, second = _variables(ema_run["raw"]), _variables(str(target))
  assert first.keys() == second.keys() and len(first) > 10
  for key in first:
    np.testing.assert_array_equal(first[key], second[key])
  read = lambda p: open(os.path.join(p, "assets", export.METADATA_FILE)).read()
  assert read(ema_run["raw"]) == read(str(target))
  z = tf.constant(ema_run["ref"]["z7"])
  before, again = tf.saved_model.load(ema_run["raw"]), tf.saved_model.load(str(target))
  np.testing.assert_array_equal(again.generator(z).numpy(), before.generator(z).numpy())


# ----------------------------------------------------------------------------------------------
# compare_gan sample
# ----------------------------------------------------------------------------------------------

def _png(path):
  return tf.io.decode_png(tf.io.read_file(str(path))).numpy()


def test_sample_grids_files_and_interpolations(ema_run, cond_run, tmp_path, capsys):
  grid, again = tmp_path / "grid.png", tmp_path / "again.png"
  assert _cli("sample", "--module", ema_run["ema"], "--num", 5, "--seed", 3, "--out", grid,
              "--out_dir", tmp_path / "single") == 0
  assert _cli("sample", "--module", ema_run["ema"], "--num", 5, "--seed", 3, "--out",
              again) == 0
  assert grid.read_bytes() == again.read_bytes()  # deterministic for a seed
  assert _png(grid).shape == (2 + 2 * 30, 2 + 3 * 30, 1)  # 3 columns x 2 rows of 28 + 2
  singles = sorted(os.listdir(tmp_path / "single"))
  assert singles == [f"{i:06d}.png" for i in range(5)]
  first = _png(tmp_path / "single" / singles[0])
  np.testing.assert_array_equal(first, _png(grid)[2:30, 2:30])

  lerp = tmp_path / "lerp.png"
  assert _cli("sample", "--module", cond_run["export"], "--interpolate", "--num", 2,
              "--steps", 4, "--labels", "3", "--out", lerp) == 0
  assert _png(lerp).shape == (2 + 2 * 30, 2 + 4 * 30, 1)
  assert _cli("sample", "--module", ema_run["ema"]) == 2
  assert "--out" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# compare_gan eval --module, third-party modules
# ----------------------------------------------------------------------------------------------

EVAL_FLAGS = ["--num_fake", 32, "--num_averaging_runs", 1,
              *_bindings(["evaluation.metrics = [@sliced_wasserstein()]",
                          "evaluation.batch_size = 16",
                          "sliced_wasserstein.num_projections = 8"])]


def test_eval_module_scores_our_export_with_protocol_cards(ema_run, tmp_path, capsys):
  out = tmp_path / "results" / "ema.json"
  assert _cli("eval", "--module", ema_run["ema"], "--dataset", "triangles", "--out", out,
              *EVAL_FLAGS) == 0
  with open(out) as f:
    result = json.load(f)
  (record,) = result["records"]
  assert record["metric"] == "swd_pixels" and record["status"] == "ok" and record["value"] > 0
  assert record["module"] == ema_run["ema"] and record["step"] == 3
  card = record["protocol"]
  assert card["generator"] == f"module {ema_run['ema']}" and card["n_fake"] == 32
  assert card["eval_z"]["kind"] == "uniform" and card["dataset"] == "triangles"
  assert result["module"]["kind"] == "compare_gan" and result["module"]["z_dim"] == Z_DIM
  assert result["dataset"] == "triangles"
  capsys.readouterr()
  assert _cli("eval", "--module", ema_run["ema"], *EVAL_FLAGS) == 2
  assert "--dataset" in capsys.readouterr().err
  assert _cli("eval", "--module", ema_run["ema"], "--dataset", "triangles", "--all") == 2
  assert "--all" in capsys.readouterr().err
  assert _cli("eval", "--module", ema_run["ema"], "--dataset", "ring8", *EVAL_FLAGS) == 1
  assert "(28, 28, 1)" in capsys.readouterr().err
  assert _cli("eval", "--model_dir", ema_run["model_dir"], "--dataset", "triangles") == 2
  assert "apply to --module" in capsys.readouterr().err


def _third_party_tf2(path):
  """A module that knows nothing of compare_gan: one `serving_default` signature taking
  `latents` [None, 4], returning {"output_0": images [B, 28, 28, 1]}."""
  kernel = tf.Variable(tf.random.stateless_normal([4, 28 * 28], [1, 2]))
  root = tf.Module()
  root.kernel = kernel

  @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="latents")])
  def serve(latents):
    return {"output_0": tf.reshape(tf.sigmoid(latents @ kernel), [-1, 28, 28, 1])}
  tf.saved_model.save(root, path, signatures={"serving_default": serve})
  return lambda z: tf.reshape(tf.sigmoid(z @ kernel), [-1, 28, 28, 1]).numpy()


def _reference_style_tf1(path):
  """A TF1 module as the reference v3 exported it: graphs tagged {gen, bs8} and {disc, bs8};
  the generator's "default" signature takes `z` [8, 4] and `labels` and returns `generated`."""
  weights = np.random.default_rng(0).normal(size=(4, 28 * 28)).astype(np.float32)
  builder = tf.compat.v1.saved_model.Builder(path)
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    z = tf.compat.v1.placeholder(tf.float32, [8, 4], name="z")
    labels = tf.compat.v1.placeholder(tf.int32, [8], name="labels")
    w = tf.compat.v1.get_variable("w", initializer=weights)
    shift = tf.cast(labels, tf.float32)[:, None] * 0.1
    images = tf.reshape(tf.sigmoid(tf.matmul(z, w) + shift), [8, 28, 28, 1])
    sess.run(tf.compat.v1.global_variables_initializer())
    info = tf.compat.v1.saved_model.utils.build_tensor_info
    gen = tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
        {"z": info(z), "labels": info(labels)}, {"generated": info(images)}, "gen")
    builder.add_meta_graph_and_variables(sess, ["gen", "bs8"], signature_def_map={
        "default": gen})
    disc = tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
        {"images": info(images)}, {"prediction": info(tf.reduce_mean(images, [1, 2]))}, "disc")
    builder.add_meta_graph(["disc", "bs8"], signature_def_map={"default": disc})
  builder.save()
  return lambda z, labels: 1 / (1 + np.exp(-(z @ weights + labels[:, None] * 0.1)))


def test_third_party_modules_are_detected_and_scored(tmp_path, capsys):
  tf2 = str(tmp_path / "tf2")
  expected = _third_party_tf2(tf2)
  with pytest.raises(ValueError, match="z distribution is unknown"):
    modules.load_module(tf2)
  module = modules.load_module(tf2, z_distribution="normal")
  assert (module.z_dim, module.conditional) == (4, False)
  assert module.kind == "signature 'serving_default'"
  z = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
  np.testing.assert_allclose(module(z).numpy(), expected(z), atol=1e-6)
  out = tmp_path / "tf2.json"
  assert _cli("eval", "--module", tf2, "--dataset", "triangles", "--z_distribution", "normal",
              "--out", out, *EVAL_FLAGS) == 0
  with open(out) as f:
    record = json.load(f)["records"][0]
  assert record["protocol"]["eval_z"]["kind"] == "normal" and record["step"] is None

  tf1 = str(tmp_path / "tf1")
  expected = _reference_style_tf1(tf1)
  module = modules.load_module(tf1, z_distribution="uniform", num_classes=10)
  assert module.fixed_batch_size == 8 and module.conditional and module.z_dim == 4
  z = np.random.default_rng(2).uniform(-1, 1, (11, 4)).astype(np.float32)  # 8 + 3: padded
  labels = np.arange(11, dtype=np.int32) % 10
  images = module(z, labels).numpy()
  assert images.shape == (11, 28, 28, 1)
  np.testing.assert_allclose(images.reshape(11, -1), expected(z, labels), atol=1e-5)
  assert _cli("sample", "--module", tf1, "--z_distribution", "uniform", "--num_classes", 10,
              "--num", 3, "--out", tmp_path / "tf1.png") == 0


def _not_a_module(kind, root, ema_run):
  """A --module path that is no SavedModel, and what the message must say about it."""
  expected = modules.EXPECTED
  assert expected.startswith("expected a SavedModel directory (one with saved_model.pb")
  if kind == "missing":
    return root / "missing", "does not exist; " + expected
  if kind == "empty":
    (root / "empty").mkdir()
    return root / "empty", "is an empty directory, not a SavedModel; " + expected
  if kind == "file":
    (root / "grid.png").write_bytes(b"png")
    return root / "grid.png", "is a file, not a SavedModel directory; " + expected
  if kind == "folder":  # a directory of exports, one level too high
    (root / "exports" / "notes").mkdir(parents=True)
    shutil.copytree(ema_run["ema"], root / "exports" / "ema")
    return root / "exports", ("is not a SavedModel: it has no saved_model.pb (SavedModels "
                              "inside it: ema); " + expected)
  run = root / "run"  # a run directory, with an export in tfhub/3/
  shutil.copytree(ema_run["model_dir"], run)
  shutil.copytree(ema_run["ema"], run / "tfhub" / "3")
  return run, (f"is a compare_gan run directory, not a SavedModel: export a checkpoint "
               f"(`compare_gan export --model_dir {run} --export_dir DIR`) and give DIR, or "
               f"give one of its exports {run}/tfhub/<step> (steps 3)")


@pytest.mark.parametrize("kind", ["missing", "empty", "file", "folder", "run"])
def test_a_path_that_is_no_module_is_named_before_loading(kind, ema_run, tmp_path, capsys,
                                                          monkeypatch):
  path, says = _not_a_module(kind, tmp_path, ema_run)
  with pytest.raises(modules.NotAModuleError, match=re.escape(f"module {path} {says}")):
    modules.load_module(str(path), z_distribution="uniform")
  import tensorflow_hub as hub
  monkeypatch.setattr(hub, "load", lambda *a, **k: pytest.fail("loaded a module"))
  out = tmp_path / "grid.png" if kind != "file" else tmp_path / "other.png"
  assert _cli("sample", "--module", path, "--z_distribution", "uniform", "--out", out) == 2
  (line,) = capsys.readouterr().err.strip().splitlines()
  assert line == f"compare_gan sample: module {path} {says}."
  # eval --module: runner.py reports what load_module raises (exit 1 there; 2 would suit a
  # bad command line as well, see its _eval_module).
  assert _cli("eval", "--module", path, "--dataset", "triangles", *EVAL_FLAGS) in (1, 2)
  (line,) = capsys.readouterr().err.strip().splitlines()
  assert line.startswith("compare_gan eval: ") and f"module {path} {says}." in line
  assert not os.path.exists(out)


def test_num_classes_of_our_module_must_agree(ema_run, cond_run):
  assert modules.load_module(cond_run["export"], num_classes=10).num_classes == 10
  with pytest.raises(ValueError, match="records num_classes = 10; num_classes = 4 disagrees"):
    modules.load_module(cond_run["export"], num_classes=4)
  with pytest.raises(ValueError, match="num_classes must be >= 1; got 0"):
    modules.load_module(ema_run["ema"], num_classes=0)


@pytest.mark.slow
@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("architecture", ["dcgan", "infogan", "mlp", "resnet19", "resnet_cifar",
                                          "sndcgan"])
def test_every_architecture_exports_exactly(architecture, conditional, tmp_path):
  """Every registered architecture, with SN and BN everywhere, traces into a SavedModel whose
  G and D give the in-process outputs (the export traces with autograph off)."""
  bindings = [f"ModularGAN.architecture = @{architecture}()", "G.width = 0.0625",
              "D.width = 0.0625", f"ModularGAN.z_dim = {Z_DIM}", "G.spectral_norm = True",
              "D.spectral_norm = True", "D.batch_norm_fn = @batch_norm"]
  if conditional:
    bindings += ["ModularGAN.conditional = True", "G.batch_norm_fn = @conditional_batch_norm",
                 "D.project_y = True"]
  else:
    bindings += ["G.batch_norm_fn = @batch_norm"]
  config.parse_gin([], bindings)
  shape = (2,) if architecture == "mlp" else (32, 32, 3)
  model = modular_gan.ModularGAN(shape, 5 if conditional else None)
  (tmp_path / "metadata.json").write_text("{}")
  root, signatures = export._saved_model(model, False, model.discriminator,
                                         str(tmp_path / "metadata.json"))
  tf.saved_model.save(root, str(tmp_path / "module"), signatures=signatures)
  loaded = tf.saved_model.load(str(tmp_path / "module"))
  z, labels = _latents(0, 3, num_classes=5 if conditional else None)
  extra = (tf.constant(labels),) if conditional else ()
  images = loaded.generator(tf.constant(z), *extra).numpy()
  np.testing.assert_allclose(images, model.sample(tf.constant(z), *extra).numpy(), atol=1e-5)
  logits = loaded.discriminator(tf.constant(images), *extra).numpy()
  one_hot = tf.one_hot(labels, 5) if conditional else None
  expected = model.discriminator(tf.constant(images), y=one_hot, training=False)[0].numpy()
  np.testing.assert_allclose(logits, expected, atol=1e-5)
