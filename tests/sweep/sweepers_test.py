"""Sweepers: grid, random and GP proposals, budgets, resume, and GP beating random search."""

import math

import numpy as np
import pytest
from scipy import stats

from compare_gan.sweep import space as space_lib
from compare_gan.sweep import study as study_lib
from compare_gan.sweep import sweepers

SPACE = {"lr": ("log_uniform", 1e-5, 1e-2), "beta1": ("uniform", 0.0, 1.0),
         "k": ("int_uniform", 1, 3), "di": ("choice", [1, 5])}
GRID = {"lr": [1e-4, 2e-4], "beta1,k,di": [(0.5, 1, 5)]}
# Cheaper GP fits for the tests (a single kernel fit, acquisition on 2000 random points):
# ~0.06 s of CPU per proposal instead of ~0.3 s. The defaults run in
# test_random_and_gp_honour_space_and_budget and the slow GP-vs-random test.
FAST_GP = dict(estimator_options={"n_restarts_optimizer": 0}, acq_optimizer="sampling",
               acq_optimizer_kwargs={"n_points": 2000})


def _make(kind, setting, budget, seed, mode="min", fast=True):
  options = FAST_GP if kind == "gp" and fast else {}
  return sweepers.make_sweeper(kind, setting, budget, seed, mode, **options)


def _setting(space=None, grid=None, key="default"):
  dims = [space_lib.parse_dimension(n, s) for n, s in (space or {}).items()]
  return study_lib.Setting(key, {}, [], dims, space_lib.expand_grid(grid) if grid else [])


def _drain(sweeper, n=3, value=lambda p: 1.0):
  """Asks n at a time and tells every point `value(point)` until the sweeper is exhausted."""
  out = []
  while True:
    asked = sweeper.ask(n)
    if not asked:
      break
    for params, source in asked:
      sweeper.tell(params, value(params))
    out += asked
  assert sweeper.exhausted
  return out


def _check_point(params, setting):
  dims = {d.name: d for d in setting.space}
  assert set(params) == set(dims)
  for name, value in params.items():
    assert dims[name].contains(value), (name, value)
    assert type(value) is (float if dims[name].kind in ("uniform", "log_uniform") else int)


def test_grid_sweeper_gives_each_grid_point_once_in_order():
  setting = _setting(SPACE, GRID)
  sweeper = sweepers.make_sweeper("grid", setting, budget=10, seed=0, mode="min")
  first = sweeper.ask(1)
  assert first == [({"lr": 1e-4, "beta1": 0.5, "k": 1, "di": 5}, "grid")]
  assert sweeper.ask(5) == [({"lr": 2e-4, "beta1": 0.5, "k": 1, "di": 5}, "grid")]
  assert sweeper.ask(1) == [] and sweeper.exhausted
  with pytest.raises(ValueError, match="setting 'default' has no grid points"):
    sweepers.make_sweeper("grid", _setting(SPACE), budget=3, seed=0, mode="min")


@pytest.mark.parametrize("kind", ["random", "gp"])
def test_random_and_gp_honour_space_and_budget(kind):
  setting = _setting(SPACE, GRID)
  sweeper = _make(kind, setting, budget=7, seed=1, fast=False)  # skopt's default GP
  asked = _drain(sweeper, n=3, value=lambda p: math.log10(p["lr"]) + p["beta1"])
  assert [source for _, source in asked] == ["grid"] * 2 + [kind] * 7
  assert [p for p, _ in asked[:2]] == setting.grid
  for params, _ in asked[2:]:
    _check_point(params, setting)
  assert len({space_lib.point_key(p) for p, _ in asked}) == 9
  assert sweeper.ask(4) == []


@pytest.mark.parametrize("kind", ["random", "gp"])
def test_proposals_are_seeded(kind):
  def run(seed):
    return [p for p, _ in _drain(_make(kind, _setting(SPACE), 6, seed),
                                 n=2, value=lambda p: p["beta1"])]
  assert run(4) == run(4)
  assert run(4) != run(5)


@pytest.mark.parametrize("kind", ["random", "gp"])
def test_ask_n_returns_distinct_points_while_others_are_in_flight(kind):
  setting = _setting({"lr": SPACE["lr"], "beta1": SPACE["beta1"]})
  sweeper = _make(kind, setting, budget=16, seed=0)
  first = [p for p, _ in sweeper.ask(3)]
  for p in first:
    sweeper.tell(p, p["beta1"])
  batches = [[p for p, _ in sweeper.ask(n)] for n in (1, 1, 2, 4)]  # Nothing told between.
  for p in batches[-1]:
    sweeper.tell(p, p["beta1"])
  batches.append([p for p, _ in sweeper.ask(4)])  # Model phase, 4 points still in flight.
  points = first + [p for batch in batches for p in batch]
  assert [len(b) for b in batches] == [1, 1, 2, 4, 4]
  assert len({space_lib.point_key(p) for p in points}) == len(points) == 15
  assert len(sweeper.pending) == 4 + 4


@pytest.mark.parametrize("kind", ["random", "gp"])
def test_finite_space_budget_shrinks_to_its_new_points(kind):
  setting = _setting({"di": ("choice", [1, 5]), "k": ("int_uniform", 1, 2)},
                     {"di,k": [(1, 1)]})
  asked = _drain(_make(kind, setting, budget=10, seed=0), n=2)
  assert [s for _, s in asked] == ["grid"] + [kind] * 3
  assert sorted(space_lib.point_key(p) for p, _ in asked) == sorted(
      space_lib.point_key({"di": di, "k": k}) for di in (1, 5) for k in (1, 2))


def test_random_restart_proposes_what_an_uninterrupted_sweeper_would():
  setting = _setting(SPACE, GRID)
  a = sweepers.make_sweeper("random", setting, budget=6, seed=3)
  first = a.ask(3)  # 2 grid points and a draw
  a.tell(first[0][0], 1.0)
  a.tell(first[1][0], 2.0)
  second = a.ask(2)
  rest = a.ask(10)
  assert len(rest) == 3
  b = sweepers.make_sweeper("random", setting, budget=6, seed=3)
  for seed_value in (1.0, 1.5):  # Two seeds of each point: counted once.
    b.register(first[0][0], "grid", seed_value)
    b.register(first[1][0], "grid", seed_value + 1)
  b.register(first[2][0], "random", None)  # Still pending.
  for params, source in second:
    b.register(params, source, None)
    b.register(params, source, 3.0)
  assert not b.exhausted
  assert b.ask(10) == rest
  assert b.exhausted and b.ask(1) == []


def test_grid_restart_never_reproposes_finished_points():
  setting = _setting(grid={"lr": [1e-4, 2e-4, 5e-4], "beta1": [0.0, 0.5]})
  a = sweepers.make_sweeper("grid", setting, budget=0, seed=0)
  points = [p for p, _ in a.ask(6)]
  b = sweepers.make_sweeper("grid", setting, budget=0, seed=0)
  b.register(points[0], "grid", 1.0)
  b.register(points[3], "grid", 2.0)
  b.register(points[4], "grid", None)
  assert [p for p, _ in b.ask(10)] == [points[1], points[2], points[5]]
  assert b.exhausted


def test_gp_restart_counts_stored_points_against_the_budget():
  setting = _setting({"lr": SPACE["lr"], "beta1": SPACE["beta1"]})
  a = _make("gp", setting, budget=8, seed=2)
  done = [p for p, _ in a.ask(6)]
  b = _make("gp", setting, budget=8, seed=2)
  for p in done[:5]:
    b.register(p, "gp", p["beta1"])
  b.register(done[5], "gp", None)
  assert b.pending == [done[5]]
  rest = [p for p, _ in b.ask(8)]
  assert len(rest) == 2 and b.exhausted
  keys = {space_lib.point_key(p) for p in done}
  assert not keys & {space_lib.point_key(p) for p in rest}


def test_gp_tells_grid_points_inside_the_space_and_flips_the_sign_for_max():
  setting = _setting({"beta1": ("uniform", 0.0, 1.0)}, {"beta1": [0.5, 2.0]})
  sweeper = _make("gp", setting, budget=3, seed=0, mode="max")
  assert [s for _, s in sweeper.ask(2)] == ["grid", "grid"]
  sweeper.tell({"beta1": 0.5}, 1.0)
  sweeper.tell({"beta1": 2.0}, 3.0)  # Outside the space: recorded, not told to the model.
  (proposal, source), = sweeper.ask(1)
  assert source == "gp" and 0.0 <= proposal["beta1"] <= 1.0
  assert sweeper.observations == [({"beta1": 0.5}, -1.0)]
  assert len(sweeper.history) == 2


def test_gp_takes_noisy_repeated_observations():
  setting = _setting({"lr": SPACE["lr"], "beta1": SPACE["beta1"]})
  sweeper = _make("gp", setting, budget=8, seed=0)
  rng = np.random.default_rng(0)
  for params, _ in sweeper.ask(5):
    for _ in range(2):  # Two training seeds per point, told separately.
      sweeper.tell(params, params["beta1"] + 0.05 * rng.normal())
  (params, _), = sweeper.ask(1)
  assert len(sweeper.observations) == 10
  _check_point(params, setting)


def test_bad_calls_name_the_problem():
  setting = _setting(SPACE)
  with pytest.raises(ValueError, match="Unknown sweeper 'bayes'; valid: grid, random, gp"):
    sweepers.make_sweeper("bayes", setting, 3, 0)
  sweeper = sweepers.make_sweeper("random", setting, 3, 0)
  with pytest.raises(ValueError, match="n >= 1"):
    sweeper.ask(0)
  (params, _), = sweeper.ask(1)
  with pytest.raises(ValueError, match="must be a finite number"):
    sweeper.tell(params, float("nan"))
  with pytest.raises(ValueError, match="mode 'maximize' is unknown"):
    sweepers.make_sweeper("random", setting, 3, 0, mode="maximize")
  with pytest.raises(ValueError, match="budget must be an integer >= 0"):
    sweepers.make_sweeper("gp", setting, -1, 0)


# Cheap synthetic objectives on spaces like the GAN Landscape's: bowls with their minimum 0
# at lr = 10^-3.5, beta1 = 0.3 (and beta2 = 0.8), each coordinate scaled to [0, 1].
BOWL_2D = _setting({"lr": ("log_uniform", 1e-5, 1e-2), "beta1": ("uniform", 0.0, 1.0)})
BOWL_3D = _setting({"lr": ("log_uniform", 1e-5, 1e-2), "beta1": ("uniform", 0.0, 1.0),
                    "beta2": ("uniform", 0.0, 1.0)})


def _bowl(p):
  return (((math.log10(p["lr"]) + 5) / 3 - 0.5) ** 2 + (p["beta1"] - 0.3) ** 2
          + (p.get("beta2", 0.8) - 0.8) ** 2)


def _best_after_budget(kind, setting, seed, budget, fast):
  sweeper = _make(kind, setting, budget, seed, fast=fast)
  values = [_bowl(p) for p, _ in _drain(sweeper, n=2, value=_bowl)]  # 2 parallel workers
  assert len(values) == budget
  return min(values)


def _gp_beats_random(setting, seeds, budget, fast):
  gp = np.array([_best_after_budget("gp", setting, s, budget, fast) for s in seeds])
  rnd = np.array([_best_after_budget("random", setting, s, budget, fast) for s in seeds])
  # One-sided Wilcoxon signed-rank test on the paired best-after-budget values.
  p_value = stats.wilcoxon(gp, rnd, alternative="less").pvalue
  print(f"best after {budget}: gp mean {gp.mean():.4f} median {np.median(gp):.4f}; random "
        f"mean {rnd.mean():.4f} median {np.median(rnd):.4f}; gp better on "
        f"{int((gp < rnd).sum())}/{len(gp)} seeds; Wilcoxon p = {p_value:.2g}")
  assert p_value < 0.01
  assert (gp < rnd).sum() >= 0.8 * len(gp)
  assert gp.mean() < 0.5 * rnd.mean()


def test_gp_beats_random_search_over_seeds():
  _gp_beats_random(BOWL_2D, range(10), budget=15, fast=True)


@pytest.mark.slow
def test_gp_with_default_options_beats_random_search_in_3d():
  _gp_beats_random(BOWL_3D, range(10), budget=16, fast=False)
