"""Search-space dimensions and grids: parsing, sampling, membership, skopt conversion."""

import math

import numpy as np
import pytest
from skopt import space as skopt_space

from compare_gan.sweep import space


@pytest.mark.parametrize("spec, kind, low, high, choices", [
    (("log_uniform", 1e-5, 1e-2), "log_uniform", 1e-5, 1e-2, ()),
    (("uniform", 0, 1), "uniform", 0.0, 1.0, ()),
    (("int_uniform", 1, 5), "int_uniform", 1, 5, ()),
    (("choice", [1, 5]), "choice", None, None, (1, 5)),
    (["choice", ("a", "b")], "choice", None, None, ("a", "b")),
])
def test_parse_dimension(spec, kind, low, high, choices):
  d = space.parse_dimension("x", spec)
  assert (d.name, d.kind, d.low, d.high, d.choices) == ("x", kind, low, high, choices)
  if kind in ("uniform", "log_uniform"):
    assert isinstance(d.low, float) and isinstance(d.high, float)


@pytest.mark.parametrize("spec, message", [
    (("normal", 0, 1), "unknown dimension kind 'normal'; valid: log_uniform, uniform"),
    (("uniform", 1.0, 1.0), "low 1.0 must be below high 1.0"),
    (("uniform", 2.0, 1.0), "low 2.0 must be below high 1.0"),
    (("log_uniform", 0.0, 1.0), "needs low > 0"),
    (("log_uniform", -1.0, 1.0), "needs low > 0"),
    (("int_uniform", 1.5, 4), "bounds must be integers"),
    (("uniform", "a", 1.0), "must be finite numbers"),
    (("uniform", 0.0, float("inf")), "must be finite numbers"),
    (("uniform", 0.0), "write ('uniform', low, high)"),
    (("choice", []), "the choice list is empty"),
    (("choice", [1, 1]), "listed twice"),
    (("choice", [[1, 2]]), "not a number, string or bool"),
    (("choice", 1, 5), "write ('choice', [v1, v2, ...])"),
    ("uniform", "is not a dimension"),
    ((), "is not a dimension"),
])
def test_parse_dimension_rejects_bad_specs(spec, message):
  with pytest.raises(ValueError) as e:
    space.parse_dimension("lr", spec)
  assert "'lr'" in str(e.value) and message in str(e.value)


def test_samples_stay_in_their_dimension_with_plain_types():
  rng = np.random.default_rng(0)
  lr = space.parse_dimension("lr", ("log_uniform", 1e-5, 1e-2))
  beta = space.parse_dimension("beta1", ("uniform", 0.0, 1.0))
  steps = space.parse_dimension("k", ("int_uniform", 1, 3))
  di = space.parse_dimension("di", ("choice", [1, 5]))
  lrs = [lr.sample(rng) for _ in range(2000)]
  assert all(type(v) is float and 1e-5 <= v <= 1e-2 for v in lrs)
  # Log-uniform: log10(lr) ~ U[-5, -2], mean -3.5 (sd of the mean ~0.02).
  assert abs(np.mean(np.log10(lrs)) + 3.5) < 0.1
  assert abs(np.mean([beta.sample(rng) for _ in range(2000)]) - 0.5) < 0.05
  ks = [steps.sample(rng) for _ in range(300)]
  assert all(type(v) is int for v in ks) and set(ks) == {1, 2, 3}
  dis = [di.sample(rng) for _ in range(100)]
  assert all(type(v) is int for v in dis) and set(dis) == {1, 5}


def test_sampling_is_seeded():
  d = space.parse_dimension("lr", ("log_uniform", 1e-5, 1e-2))
  a = [d.sample(np.random.default_rng(3)) for _ in range(3)]
  b = [d.sample(np.random.default_rng(3)) for _ in range(3)]
  assert a == b


def test_contains_and_coerce():
  lr = space.parse_dimension("lr", ("log_uniform", 1e-5, 1e-2))
  assert lr.contains(1e-2) and lr.contains(1e-5) and lr.contains(np.float64(1e-3))
  assert lr.contains(math.exp(math.log(1e-2)))  # One rounding step above high.
  assert not lr.contains(1.1e-2) and not lr.contains(float("nan")) and not lr.contains("a")
  assert lr.coerce(math.exp(math.log(1e-2))) == 1e-2
  assert type(lr.coerce(np.float64(1e-3))) is float
  k = space.parse_dimension("k", ("int_uniform", 1, 3))
  assert k.contains(2) and k.contains(np.int64(3)) and not k.contains(2.5)
  assert not k.contains(4) and not k.contains(True)
  assert type(k.coerce(np.int64(2))) is int
  di = space.parse_dimension("di", ("choice", [1, 5]))
  assert di.contains(np.int64(5)) and not di.contains(2) and not di.contains(True)
  assert type(di.coerce(np.int64(5))) is int
  flag = space.parse_dimension("sn", ("choice", [True, False]))
  assert flag.contains(True) and not flag.contains(1)
  with pytest.raises(ValueError, match="not in dimension lr"):
    lr.coerce(1.0)


def test_to_skopt():
  lr = space.parse_dimension("lr", ("log_uniform", 1e-5, 1e-2)).to_skopt()
  assert isinstance(lr, skopt_space.Real) and lr.prior == "log-uniform"
  assert (lr.low, lr.high, lr.name) == (1e-5, 1e-2, "lr")
  beta = space.parse_dimension("b", ("uniform", 0.0, 1.0)).to_skopt()
  assert isinstance(beta, skopt_space.Real) and beta.prior == "uniform"
  k = space.parse_dimension("k", ("int_uniform", 1, 3)).to_skopt()
  assert isinstance(k, skopt_space.Integer) and (k.low, k.high) == (1, 3)
  di = space.parse_dimension("di", ("choice", [1, 5])).to_skopt()
  assert isinstance(di, skopt_space.Categorical) and list(di.categories) == [1, 5]


def test_size_and_representative():
  assert space.parse_dimension("k", ("int_uniform", 1, 3)).size() == 3
  assert space.parse_dimension("c", ("choice", ["a", "b"])).size() == 2
  assert math.isinf(space.parse_dimension("u", ("uniform", 0, 1)).size())
  lr = space.parse_dimension("lr", ("log_uniform", 1e-4, 1e-2))
  assert lr.representative() == pytest.approx(1e-3)


def test_expand_grid_cross_product_with_joint_keys():
  points = space.expand_grid({"lr": [2e-4, 1e-4, 1e-3], "lambda": [1.0, 10.0],
                              "beta1, beta2,disc_iters": [(0.5, 0.9, 5), (0.5, 0.999, 1)]})
  assert len(points) == 12
  assert points[0] == {"lr": 2e-4, "lambda": 1.0, "beta1": 0.5, "beta2": 0.9, "disc_iters": 5}
  assert points[1] == {"lr": 2e-4, "lambda": 1.0, "beta1": 0.5, "beta2": 0.999,
                       "disc_iters": 1}
  assert points[-1]["lr"] == 1e-3 and points[-1]["lambda"] == 10.0  # First key slowest.
  assert len({space.point_key(p) for p in points}) == 12
  assert space.expand_grid({}) == [{}]
  assert space.expand_grid({"a": [np.int64(1)]}) == [{"a": 1}]
  assert type(space.expand_grid({"a": [np.int64(1)]})[0]["a"]) is int


@pytest.mark.parametrize("grid, message", [
    ({"a": []}, "must be a non-empty list"),
    ({"a": 1.0}, "must be a non-empty list"),
    ({"a,b": [(1, 2, 3)]}, "must be a tuple of 2 values"),
    ({"a,b": [1]}, "must be a tuple of 2 values"),
    ({"a": [1], "b,a": [(1, 2)]}, "'a' appears in keys 'a' and 'b,a'"),
    ({"a,a": [(1, 2)]}, "names a parameter twice"),
    ({"a,": [(1, 2)]}, "empty parameter name"),
    ({"a": [1, 1]}, "listed twice"),
    ({"a": [[1]]}, "not a number, string or bool"),
])
def test_expand_grid_rejects_bad_grids(grid, message):
  with pytest.raises(ValueError, match=None) as e:
    space.expand_grid(grid)
  assert message in str(e.value)
