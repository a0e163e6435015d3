"""The runner (compare_gan/runner.py): one process builds the run's dataset and its evaluation
model once, and shares them between training, evaluation and export."""

import os

import gin

from compare_gan import config
from compare_gan import data
from compare_gan import run_dir
from compare_gan import runner
from compare_gan.gans import modular_gan

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs", "examples")
TINY = ["G.width = 0.0625", "D.width = 0.0625", "ModularGAN.z_dim = 8", "train.batch_size = 8",
        "train.log_every_steps = 2", "train.save_checkpoints_steps = 2",
        "train.training_steps = 4", "evaluation.metrics = [@sliced_wasserstein()]",
        "evaluation.num_fake = 32", "evaluation.num_averaging_runs = 1",
        "sliced_wasserstein.num_projections = 8"]


def test_train_and_eval_builds_the_dataset_and_the_evaluation_model_once(tmp_path,
                                                                           monkeypatch):
  counts = {"models": 0, "datasets": 0}
  model_init, get_dataset = modular_gan.ModularGAN.__init__, data.get_dataset

  def counting_init(self, *args, **kwargs):
    counts["models"] += 1
    model_init(self, *args, **kwargs)

  def counting_get_dataset(*args, **kwargs):
    counts["datasets"] += 1
    return get_dataset(*args, **kwargs)

  monkeypatch.setattr(modular_gan.ModularGAN, "__init__", counting_init)
  monkeypatch.setattr(data, "get_dataset", counting_get_dataset)
  text = config.parse_gin([os.path.join(CONFIGS, "triangles_sndcgan.gin")], TINY)
  model_dir = str(tmp_path / "run")
  failures = runner.run_schedule("train_and_eval", model_dir, config_text=text,
                                 export_evaluated=True, log=lambda s: None)
  gin.clear_config()
  assert failures == 0
  assert run_dir.evaluated_steps(model_dir) == {2, 4}
  assert sorted(os.listdir(os.path.join(model_dir, run_dir.TFHUB))) == ["2", "4"]
  # One model trains; one, in float32, evaluates and exports.
  assert counts == {"models": 2, "datasets": 1}
