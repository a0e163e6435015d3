"""Glicko-2 against Glickman's worked example and hand-computed values, and the tournament
(compare_gan/metrics/skill_rating.py) on a toy whose ranking and win rates are known in closed
form."""

import dataclasses
import math

import numpy as np
import pytest

from compare_gan import config
from compare_gan.metrics import skill_rating as sr


def _close(a, b):
  return dataclasses.astuple(a) == pytest.approx(dataclasses.astuple(b), rel=1e-12)


# ----------------------------------------------------------------------------------------------
# Glicko-2
# ----------------------------------------------------------------------------------------------

def test_glickmans_worked_example():
  # Glickman (2013), "Example of the Glicko-2 system": 1500/200/0.06 against 1400/30,
  # 1550/100 and 1700/300, scores 1, 0, 0, tau = 0.5.
  player = sr.Rating(1500.0, 200.0, 0.06)
  opponents = [sr.Rating(1400.0, 30.0), sr.Rating(1550.0, 100.0), sr.Rating(1700.0, 300.0)]
  new = sr.glicko2_update(player, opponents, [1.0, 0.0, 0.0], tau=0.5)
  assert new.rating == pytest.approx(1464.06, abs=0.01)
  assert new.rd == pytest.approx(151.52, abs=0.01)
  assert new.volatility == pytest.approx(0.05999, abs=1e-5)


def test_a_period_without_games_only_widens_the_deviation():
  # Step 6 alone: RD' = sqrt(RD^2 + (173.7178 sigma)^2) = sqrt(200^2 + 10.4231^2) = 200.2714.
  new = sr.glicko2_update(sr.Rating(1612.0, 200.0, 0.06), [], [])
  assert new.rating == 1612.0 and new.volatility == 0.06
  assert new.rd == pytest.approx(200.2714, abs=1e-3)


def test_two_new_players_split_one_win_symmetrically_and_a_draw_changes_no_rating():
  a, b = sr.Rating(), sr.Rating()
  games = np.array([[0, 1], [1, 0]])
  won = sr.rate_period([a, b], games, np.array([[0, 1], [0, 0]]))
  assert won[0].rating > 1500 > won[1].rating
  assert won[0].rating - 1500 == pytest.approx(1500 - won[1].rating, abs=1e-9)
  assert won[0].rd == pytest.approx(won[1].rd, abs=1e-9) and won[0].rd < 350
  drawn = sr.rate_period([a, b], games, np.array([[0, 0.5], [0.5, 0]]))
  assert [r.rating for r in drawn] == pytest.approx([1500.0, 1500.0], abs=1e-9)


def test_a_period_of_aggregated_games_equals_the_game_by_game_update():
  ratings = [sr.Rating(1500, 200, 0.06), sr.Rating(1400, 30, 0.06), sr.Rating(1700, 300, 0.07)]
  games = np.array([[0, 3, 2], [3, 0, 0], [2, 0, 0]])
  scores = np.array([[0, 1.5, 2.0], [1.5, 0, 0], [0.0, 0, 0]])
  rated = sr.rate_period(ratings, games, scores, tau=0.5)
  # Player 0: three games against 1 (win, draw, loss), two wins against 2.
  expected = sr.glicko2_update(ratings[0], [ratings[1]] * 3 + [ratings[2]] * 2,
                               [1.0, 0.5, 0.0, 1.0, 1.0], tau=0.5)
  assert _close(rated[0], expected)
  expected = sr.glicko2_update(ratings[2], [ratings[0]] * 2, [0.0, 0.0], tau=0.5)
  assert _close(rated[2], expected)
  with pytest.raises(ValueError, match="must equal games"):
    sr.rate_period(ratings, games, np.zeros((3, 3)))


# ----------------------------------------------------------------------------------------------
# Games and the protocol
# ----------------------------------------------------------------------------------------------

def test_game_rules():
  real = np.array([1.0, 1.0, -1.0, -1.0, 2.0, 0.5])
  fake = np.array([0.5, -0.5, 0.5, -0.5, 2.0, -3.0])
  # threshold: fake called real -> G; else real called real -> D; else (both fake) a draw.
  np.testing.assert_array_equal(sr.game_scores(real, fake, "threshold"),
                                [1.0, 0.0, 1.0, 0.5, 1.0, 0.0])
  # paired: whichever D rates as more real wins; equal: a draw.
  np.testing.assert_array_equal(sr.game_scores(real, fake, "paired"),
                                [0.0, 0.0, 1.0, 1.0, 0.5, 0.0])
  with pytest.raises(config.ConfigError, match="threshold, paired"):
    sr.game_scores(real, fake, "majority")


@pytest.mark.parametrize("fields, message", [
    (dict(games_per_match=0), "positive integer"),
    (dict(games_per_match=4, rating_periods=5), "5 rating periods need >= 5 games"),
    (dict(tau=0.0), "tau 0.0 must be positive"),
    (dict(win_rule="vote"), "Unknown tournament win rule 'vote'"),
])
def test_bad_protocols_are_refused(fields, message):
  with pytest.raises(config.ConfigError, match=message):
    sr.TournamentProtocol(**fields).validate()


def test_ranks():
  assert sr.ranks([sr.Rating(1400), sr.Rating(1600), sr.Rating(1500)]) == [3, 1, 2]


# ----------------------------------------------------------------------------------------------
# The tournament on a toy with a known answer
# ----------------------------------------------------------------------------------------------
# Data N(0, 1) in one dimension; generator i draws mu_i + z (z ~ N(0, 1)), so a smaller mu_i is
# a better generator; discriminator j is the Bayes-optimal D between the data and generator j:
# logit_j(x) = log N(x; 0, 1) - log N(x; mu_j, 1) = mu_j^2 / 2 - mu_j x, which calls x real when
# x < mu_j / 2. Under the threshold rule G_i's expected score against D_j is therefore
# P(win) + P(draw) / 2 = Phi(c - mu_i) + (1 - Phi(c - mu_i)) (1 - Phi(c)) / 2 with c = mu_j / 2.

MUS = np.array([2.0, 1.0, 0.5, 0.25])  # training "progress": later players are better


def _phi(x):
  return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _toy(n, protocol, seed=0):
  rng = np.random.default_rng(seed)
  real = rng.standard_normal((n, 1))
  z = rng.standard_normal((n, 1))
  sample = lambda i, z_, labels: MUS[i] + z_
  judge = lambda j, x, labels: (MUS[j] ** 2 / 2 - MUS[j] * x).reshape(-1)
  return sr.play_tournament(len(MUS), sample, judge, real, None, z, None, protocol)


def test_toy_tournament_ranks_better_generators_higher_with_the_expected_win_rates():
  n = 4000
  result = _toy(n, sr.TournamentProtocol(games_per_match=n, rating_periods=4))
  ratings = [r.rating for r in result.generators]
  assert ratings == sorted(ratings), ratings  # strictly better generator, higher rating
  assert sr.ranks(result.generators) == [4, 3, 2, 1]
  totals = np.nansum(result.period_scores, axis=0) / n  # [i, j] G_i's mean score against D_j
  for i, mu_i in enumerate(MUS):
    for j, mu_j in enumerate(MUS):
      if i == j:
        assert np.isnan(result.period_scores[:, i, j]).all()
        continue
      c = mu_j / 2
      expected = _phi(c - mu_i) + (1 - _phi(c - mu_i)) * (1 - _phi(c)) / 2
      # The mean of 4000 games in [0, 1] has a standard deviation below 0.008.
      assert totals[i, j] == pytest.approx(expected, abs=0.03), (i, j)
  np.testing.assert_allclose(result.win_rates, totals.sum(axis=1) / (len(MUS) - 1))
  assert result.period_games == [1000] * 4


def test_one_period_rates_each_generator_from_its_games_against_fresh_opponents():
  n = 64
  result = _toy(n, sr.TournamentProtocol(games_per_match=n, rating_periods=1))
  for i in range(len(MUS)):
    # Every opponent starts at 1500/350/0.06, so only G_i's total score against each counts.
    opponents, scores = [], []
    for j in range(len(MUS)):
      if j != i:
        total = result.period_scores[0, i, j]
        wins, half = int(total), total - int(total)
        scores += [1.0] * wins + [0.5] * int(half * 2) + [0.0] * (n - wins - int(half * 2))
        opponents += [sr.Rating()] * n
    assert _close(result.generators[i],
                  sr.glicko2_update(sr.Rating(), opponents, scores, tau=0.5))


def test_the_tournament_is_a_function_of_its_inputs_and_needs_two_players():
  protocol = sr.TournamentProtocol(games_per_match=100, rating_periods=2)
  a, b = _toy(100, protocol), _toy(100, protocol)
  assert a.generators == b.generators and a.discriminators == b.discriminators
  np.testing.assert_array_equal(a.period_scores, b.period_scores)
  with pytest.raises(ValueError, match=">= 2 players"):
    sr.play_tournament(1, None, None, np.zeros((100, 1)), None, np.zeros((100, 1)), None,
                       protocol)
