"""`compare_gan eval --tournament` (skill rating between a run's checkpoints) end to end on a tiny
ring8 run: the outputs, their protocol card, determinism, consistency of the recorded games with
the ratings, and the refusals. The ranking itself is tested on a toy whose answer is known
(tests/metrics/skill_rating_test.py): a few training steps give no reliable order."""

import json
import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan import run_dir
from compare_gan.metrics import skill_rating as sr

import cli_harness as harness  # tests/: pytest puts it on sys.path.

ROOT = os.path.join(os.path.dirname(__file__), "..")
RING8 = os.path.join(ROOT, "configs", "examples", "ring8_mlp.gin")
VAE_TRIANGLES = os.path.join(ROOT, "configs", "examples", "vae_triangles.gin")
BEGAN_TRIANGLES = os.path.join(ROOT, "configs", "examples", "began_triangles.gin")
TINY = ["train.batch_size = 32", "train.save_checkpoints_steps = 10",
        "train.log_every_steps = 20", "train.summary_every_steps = 20",
        "train.image_summary_every_steps = 1000", "ModularGAN.z_dim = 4", "G.width = 0.125",
        "D.width = 0.125"]
STEPS = [10, 20, 30, 40]  # The checkpoints of the 40 steps trained.


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("tournament") / "run"
  assert harness.train(model_dir, STEPS[-1], RING8, TINY) == 0
  gin.clear_config()
  return str(model_dir)


def _result(model_dir) -> dict:
  with open(os.path.join(model_dir, "tournament.json")) as f:
    return json.load(f)


def _one_line(capsys, *expected) -> str:
  lines = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
  assert len(lines) == 1, lines
  assert lines[0].startswith("compare_gan eval: ") and "Traceback" not in lines[0]
  for text in expected:
    assert text in lines[0], (text, lines[0])
  return lines[0]


def _ratings_from_games(result) -> list:
  """The Glicko-2 ratings recomputed from the recorded games, period by period."""
  k = len(result["players"])
  n_per_period = result["protocol"]["games_per_period"]
  ratings = [sr.Rating()] * (2 * k)
  for period, n in zip(result["period_scores"], n_per_period):
    g = np.array([[np.nan if v is None else v for v in row] for row in period])
    games, scores = np.zeros((2 * k, 2 * k)), np.zeros((2 * k, 2 * k))
    for i in range(k):
      for j in range(k):
        if i != j:
          games[i, k + j] = games[k + j, i] = n
          scores[i, k + j], scores[k + j, i] = g[i, j], n - g[i, j]
    ratings = sr.rate_period(ratings, games, scores, tau=result["protocol"]["tau"])
  return ratings


def test_tournament_writes_ratings_with_their_protocol_and_is_deterministic(run, capsys,
                                                                          monkeypatch):
  # The latents each generator is sampled with, per tournament.
  latents_seen = []
  sample = sr.CheckpointPlayers.sample

  def recording_sample(self, i, z, labels):
    latents_seen.append(np.array(z))
    return sample(self, i, z, labels)
  monkeypatch.setattr(sr.CheckpointPlayers, "sample", recording_sample)

  argv = ["eval", "--model_dir", run, "--tournament", "--tournament_samples", 48,
          "--tournament_periods", 3, "--tournament_tau", 0.7, "--seed", 3]
  assert harness.run_cli(*argv) == 0
  out = capsys.readouterr().out
  first = _result(run)
  card = first["protocol"]
  assert card["players"] == STEPS
  assert (card["games_per_match"], card["rating_periods"], card["games_per_period"],
          card["tau"], card["seed"], card["win_rule"]) == (48, 3, [16, 16, 16], 0.7, 3,
                                                            "threshold")
  assert card["generator"] == "raw" and card["real"] == dict(dataset="ring8", split="test",
                                                              n=48)
  assert card["matches"] == "G_i against D_j for every i != j"
  players = first["players"]
  assert [p["step"] for p in players] == STEPS
  assert [p["checkpoint"] for p in players] == [f"checkpoints/ckpt-{s}" for s in STEPS]
  by_rating = sorted(players, key=lambda p: -p["rating"])
  assert [p["rank"] for p in by_rating] == [1, 2, 3, 4]
  for p in players:  # the printed table: step, rating, RD, rank
    assert f"{p['step']:>10}  {p['rating']:8.1f}  {p['rd']:6.1f}  {p['rank']:>4}" in out
  assert f"wrote {os.path.join(run, 'tournament.json')}" in out

  # The recorded games give back the recorded ratings and win rates.
  recomputed = _ratings_from_games(first)
  for i, p in enumerate(players):
    assert (p["rating"], p["rd"], p["volatility"]) == pytest.approx(
        (recomputed[i].rating, recomputed[i].rd, recomputed[i].volatility), rel=1e-12)
    d = recomputed[len(players) + i]
    assert p["discriminator"]["rating"] == pytest.approx(d.rating, rel=1e-12)
    won = sum(period[i][j] for period in first["period_scores"]
              for j in range(len(players)) if j != i)
    assert p["win_rate"] == pytest.approx(won / (48 * (len(players) - 1)))

  # Deterministic for a seed; another seed draws other latents. Every generator of a
  # tournament sees the same latents: 48 of z_dim 4 in [-1, 1) (the training z).
  assert harness.run_cli(*argv, "--force") == 0
  again = _result(run)
  assert again["created"] >= first["created"]
  del again["created"], first["created"]
  assert again == first
  argv[-1] = 4
  assert harness.run_cli(*argv, "--force") == 0
  assert len(latents_seen) == 3 * len(STEPS)
  seed3, seed3_again, seed4 = (latents_seen[t * len(STEPS):(t + 1) * len(STEPS)]
                               for t in range(3))
  for z in seed3 + seed3_again:
    np.testing.assert_array_equal(z, seed3[0])
  assert seed3[0].shape == (48, 4) and -1 <= seed3[0].min() and seed3[0].max() < 1
  assert not np.array_equal(seed4[0], seed3[0])
  assert not os.path.exists(os.path.join(run, run_dir.METRICS))  # metrics untouched


def test_eval_every_steps_chooses_the_players(run):
  assert harness.run_cli("eval", "--model_dir", run, "--tournament", "--tournament_samples", 8,
                         "--tournament_periods", 1, "--eval_every_steps", 20, "--tournament_rule",
                         "paired", "--force") == 0
  result = _result(run)
  assert result["protocol"]["players"] == [20, 40]
  assert result["protocol"]["win_rule"] == "paired"
  assert [p["step"] for p in result["players"]] == [20, 40]


def test_refusals_are_one_line_and_leave_the_results(run, capsys):
  target = os.path.join(run, "tournament.json")
  if not os.path.exists(target):
    assert harness.run_cli("eval", "--model_dir", run, "--tournament",
                           "--tournament_samples", 8) == 0
  with open(target, "rb") as f:
    before = f.read()
  capsys.readouterr()
  assert harness.run_cli("eval", "--model_dir", run, "--tournament") == 2
  _one_line(capsys, target, "exists", "--force")
  assert harness.run_cli("eval", "--model_dir", run, "--tournament", "--force", "--step", 10,
                         "--num_fake", 5) == 2
  _one_line(capsys, "--tournament does not take --step, --num_fake")
  assert harness.run_cli("eval", "--model_dir", run, "--tournament", "--force",
                         "--tournament_periods", 0) == 2
  _one_line(capsys, "rating periods (--tournament_periods) must be a positive integer; got 0")
  assert harness.run_cli("eval", "--model_dir", run, "--tournament", "--force",
                         "--tournament_samples", 20000) == 2
  _one_line(capsys, "--tournament_samples 20000 exceeds the 10000 evaluation examples")
  assert harness.run_cli("eval", "--model_dir", run, "--tournament", "--force",
                         "--eval_every_steps", 40) == 2
  _one_line(capsys, "needs >= 2 checkpoints", "has 1 at multiples of 40 (steps [40])")
  assert harness.run_cli("eval", "--model_dir", run, "--tournament_rule", "paired") == 2
  _one_line(capsys, "--tournament_rule: only with --tournament or --gallery")
  with open(target, "rb") as f:
    assert f.read() == before



@pytest.mark.parametrize("name, config_file, bindings, message", [
    ("vae", VAE_TRIANGLES, ["VAE.z_dim = 4"], "the VAE has none"),
    ("began", BEGAN_TRIANGLES, ["BEGAN.z_dim = 4"], "the BEGAN's D scores reconstruction "
     "energy, which has no real/fake threshold; use the paired win rule"),
    ("accumulated", RING8, ["D.batch_norm_fn = @batch_norm",
                            "standardize_batch.use_moving_averages = False"],
     "D's batch norm uses accumulated statistics"),
])
def test_models_that_cannot_play_are_refused(name, config_file, bindings, message, tmp_path,
                                             capsys):
  # A run directory before its first checkpoint: the model is refused before they are counted.
  text = config.parse_gin([config_file], bindings + ["G.width = 0.0625", "D.width = 0.0625"])
  gin.clear_config()
  model_dir = str(tmp_path / name)
  run_dir.makedirs(model_dir)
  run_dir.write_config(model_dir, text)
  assert harness.run_cli("eval", "--model_dir", model_dir, "--tournament") == 2
  _one_line(capsys, message)
  assert not os.path.exists(os.path.join(model_dir, "tournament.json"))


def test_gallery_of_a_point_run_is_a_scatter_picture(run, tmp_path, capsys):
  for name in ("a", "b"):
    assert harness.run_cli("eval", "--model_dir", run, "--gallery",
                           "--out_dir", tmp_path / name) == 0
  assert "step 40 (raw generator)" in capsys.readouterr().out
  for png in ("gallery_step40.png", "interpolation_step40.png"):
    with open(tmp_path / "a" / png, "rb") as f, open(tmp_path / "b" / png, "rb") as g:
      data = f.read()
      assert data == g.read()
    picture = tf.io.decode_png(data).numpy()
    assert picture.shape == (256, 256, 3)
    assert (picture < 255).any() and (picture == 255).mean() > 0.5  # dots on white
