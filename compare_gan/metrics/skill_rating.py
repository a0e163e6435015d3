"""Skill rating of generators by a tournament between checkpoints (Olsson et al., 2018,
"Skill Rating for Generative Models", arXiv 1808.04888), rated with Glicko-2 (Glickman, 2013,
"Example of the Glicko-2 system").

Glicko-2 (`Rating`, `glicko2_update`, `rate_period`) is plain numpy on Glickman's scale: a
rating r, a rating deviation RD and a volatility sigma, starting at 1500 / 350 / 0.06; each
rating period updates every player from the games it played against the opponents' ratings at
the start of the period, the volatility by the Illinois algorithm (Glickman's step 5).

The tournament (`play_tournament`): the players are checkpoints, each a generator G_i and a
discriminator D_i, and every G and every D is a player of one Glicko-2 pool. A match is G_i
against D_j for every i != j (a D never judges the G it was trained with). A match is
`games_per_match` games; game k shows D_j the real example k and G_i's sample of latent k, and
D's realness score s (its logit; minus the energy of a BEGAN autoencoder) decides it:

  threshold  G wins if s(fake) > 0 (sigmoid > 0.5: D classifies its sample as real, the
             paper's win of a generator); else D wins if s(real) > 0 (it told the real example
             from the sample); else (D calls both fake) a draw, 0.5 each. The draw is our
             completion of the paper's rule, which names only the two wins.
  paired     G wins if s(fake) > s(real), D wins if s(fake) < s(real), a draw if equal. It
             needs no decision threshold, so it also rates critics whose output has no
             meaningful zero (WGAN) and BEGAN's energies.

The games are split into `rating_periods` consecutive periods (games 0..n/P-1 in the first ...);
after each, every player's rating is updated. The first period rates everyone against equal
opponents; later ones weigh wins by the opponents' updated ratings. Every G uses the same
latents (seeded by `seed`, drawn as `latents.draw_latents` draws evaluation latents; conditional
models' fake labels come with them) and every match the same real examples, the first
`games_per_match` of the evaluation split, so the tournament is a pure function of the
checkpoints and the protocol. Besides the ratings, each G's tournament win rate (its mean game
score, the paper's other summary) is reported.

`checkpoint_tournament` plays it over checkpoints of one run (`CheckpointPlayers`: G, EMA G
and D restored into one `gans.inference.InferenceModel`) and returns the result with its
protocol card; `compare_gan eval --tournament` (runner.py) writes it to tournament.json.
"""

import dataclasses
import math
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import normalization
from compare_gan.data import base as data_base
from compare_gan.gans import family as family_lib
from compare_gan.gans import inference as inference_lib
from compare_gan.gans import latents

# Glickman's scale factor between the Glicko and Glicko-2 scales (400 / ln 10).
SCALE = 173.7178
WIN_RULES = ("threshold", "paired")


# ----------------------------------------------------------------------------------------------
# Glicko-2 (Glickman 2013), plain numpy
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Rating:
  """A Glicko-2 rating on the Glicko scale: rating r, deviation RD, volatility sigma."""
  rating: float = 1500.0
  rd: float = 350.0
  volatility: float = 0.06


def _g(phi: np.ndarray) -> np.ndarray:
  """Glickman's g(phi) = 1 / sqrt(1 + 3 phi^2 / pi^2)."""
  return 1.0 / np.sqrt(1.0 + 3.0 * np.square(phi) / math.pi ** 2)


def _new_volatility(phi: float, sigma: float, delta: float, v: float, tau: float,
                    epsilon: float = 1e-6) -> float:
  """Step 5 of Glickman's example: the root of f by the Illinois algorithm."""
  a = math.log(sigma ** 2)

  def f(x: float) -> float:
    ex = math.exp(x)
    return (ex * (delta ** 2 - phi ** 2 - v - ex) / (2.0 * (phi ** 2 + v + ex) ** 2)
            - (x - a) / tau ** 2)

  big_a = a
  if delta ** 2 > phi ** 2 + v:
    big_b = math.log(delta ** 2 - phi ** 2 - v)
  else:
    k = 1
    while f(a - k * tau) < 0:
      k += 1
    big_b = a - k * tau
  f_a, f_b = f(big_a), f(big_b)
  while abs(big_b - big_a) > epsilon:
    big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a)
    f_c = f(big_c)
    if f_c * f_b <= 0:
      big_a, f_a = big_b, f_b
    else:
      f_a /= 2.0
    big_b, f_b = big_c, f_c
  return math.exp(big_a / 2.0)


def _update(player: Rating, opponents: Sequence[Rating], games: np.ndarray,
            total_scores: np.ndarray, tau: float) -> Rating:
  """One period: `games[k]` games against `opponents[k]` scoring `total_scores[k]` in all."""
  games = np.asarray(games, np.float64)
  total_scores = np.asarray(total_scores, np.float64)
  mu, phi = (player.rating - 1500.0) / SCALE, player.rd / SCALE
  played = games > 0
  if not played.any():  # Step 6 alone: only the deviation grows.
    return Rating(player.rating, SCALE * math.sqrt(phi ** 2 + player.volatility ** 2),
                  player.volatility)
  opp_mu = np.array([(o.rating - 1500.0) / SCALE for o in opponents])[played]
  opp_g = _g(np.array([o.rd / SCALE for o in opponents])[played])
  games, total_scores = games[played], total_scores[played]
  expected = 1.0 / (1.0 + np.exp(-opp_g * (mu - opp_mu)))
  v = 1.0 / float(np.sum(games * np.square(opp_g) * expected * (1.0 - expected)))
  improvement = float(np.sum(opp_g * (total_scores - games * expected)))
  sigma = _new_volatility(phi, player.volatility, v * improvement, v, tau)
  phi_star = math.sqrt(phi ** 2 + sigma ** 2)
  phi_new = 1.0 / math.sqrt(1.0 / phi_star ** 2 + 1.0 / v)
  mu_new = mu + phi_new ** 2 * improvement
  return Rating(1500.0 + SCALE * mu_new, SCALE * phi_new, sigma)


def glicko2_update(player: Rating, opponents: Sequence[Rating], scores: Sequence[float],
                   tau: float = 0.5) -> Rating:
  """The player's rating after one rating period of games (Glickman 2013, steps 1-8).

  Args:
    player: the rating at the start of the period.
    opponents: one rating per game (at the start of the period); a repeated opponent is a
      repeated game.
    scores: the player's score in each game: 1 win, 0.5 draw, 0 loss.
    tau: the system constant bounding volatility changes (Glickman: 0.3 to 1.2).
  """
  if len(opponents) != len(scores):
    raise ValueError(f"one score per game: {len(opponents)} opponents, {len(scores)} scores.")
  return _update(player, opponents, np.ones(len(scores)), np.asarray(scores, np.float64), tau)


def rate_period(ratings: Sequence[Rating], games: np.ndarray, scores: np.ndarray,
                tau: float = 0.5) -> List[Rating]:
  """Every player's rating after one period, all against the ratings at its start.

  Args:
    ratings: P players.
    games: [P, P] games played between players a and b (symmetric, zero diagonal).
    scores: [P, P] a's total score against b (scores + scores.T == games).
  """
  games, scores = np.asarray(games, np.float64), np.asarray(scores, np.float64)
  if not np.allclose(scores + scores.T, games):
    raise ValueError("scores[a, b] + scores[b, a] must equal games[a, b] (1 per win, 0.5 per "
                     "draw).")
  return [_update(r, ratings, games[a], scores[a], tau) for a, r in enumerate(ratings)]


# ----------------------------------------------------------------------------------------------
# The tournament (Olsson et al. 2018)
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TournamentProtocol:
  """How the tournament is played and rated (see the module docstring)."""
  games_per_match: int = 256
  rating_periods: int = 4
  tau: float = 0.5
  win_rule: str = "threshold"
  seed: int = 0

  def validate(self) -> None:
    """Raises ConfigError naming the first invalid setting."""
    data_base.positive_int("tournament games per match (--tournament_samples)",
                           self.games_per_match)
    data_base.positive_int("tournament rating periods (--tournament_periods)",
                           self.rating_periods)
    if self.rating_periods > self.games_per_match:
      raise config.ConfigError(
          f"{self.rating_periods} rating periods need >= {self.rating_periods} games per "
          f"match (each period plays at least one); got {self.games_per_match} "
          "(--tournament_samples).")
    if not (isinstance(self.tau, (int, float)) and self.tau > 0):
      raise config.ConfigError(f"tournament tau {self.tau!r} must be positive (Glickman: "
                               "0.3 to 1.2; --tournament_tau).")
    if self.win_rule not in WIN_RULES:
      raise config.ConfigError(f"Unknown tournament win rule {self.win_rule!r}; valid: "
                               f"{', '.join(WIN_RULES)} (--tournament_rule).")


@dataclasses.dataclass
class TournamentResult:
  """Ratings of the K generators and K discriminators, each G's win rate, and the games:
  `period_scores[p, i, j]` is G_i's total score against D_j in period p (NaN on the diagonal),
  each of `period_games[p]` games."""
  generators: List[Rating]
  discriminators: List[Rating]
  win_rates: np.ndarray
  period_scores: np.ndarray
  period_games: List[int]


def game_scores(real_realness: np.ndarray, fake_realness: np.ndarray, rule: str) -> np.ndarray:
  """G's score in each game (1 win, 0.5 draw, 0 loss) from D's realness scores [n] of the
  real examples and of G's samples, under `rule` (see the module docstring)."""
  real = np.asarray(real_realness, np.float64)
  fake = np.asarray(fake_realness, np.float64)
  if rule == "threshold":
    return np.where(fake > 0, 1.0, np.where(real > 0, 0.0, 0.5))
  if rule == "paired":
    return np.where(fake > real, 1.0, np.where(fake < real, 0.0, 0.5))
  raise config.ConfigError(f"Unknown tournament win rule {rule!r}; valid: "
                           f"{', '.join(WIN_RULES)}.")


def play_tournament(num_players: int,
                    sample: Callable[[int, np.ndarray, Optional[np.ndarray]], np.ndarray],
                    judge: Callable[[int, np.ndarray, Optional[np.ndarray]], np.ndarray],
                    real_images: np.ndarray, real_labels: Optional[np.ndarray],
                    z: np.ndarray, fake_labels: Optional[np.ndarray],
                    protocol: TournamentProtocol) -> TournamentResult:
  """Plays and rates the tournament between `num_players` >= 2 checkpoints.

  Args:
    sample: `(i, z [n, z_dim], labels [n] or None) -> G_i's samples [n, ...]`; called once per
      player, in order (so a caller restoring checkpoints restores each once).
    judge: `(j, examples [m, ...], labels [m] or None) -> D_j's realness scores [m]`; called
      once per player, in order, after every `sample` call.
    real_images, real_labels: the real examples of the games, [n, ...] and [n] or None.
    z, fake_labels: the latents of the games, [n, z_dim] and [n] or None; game k pairs real
      example k with each G's sample of z[k].
    protocol: its games_per_match is n.
  """
  protocol.validate()
  n, k = protocol.games_per_match, num_players
  if k < 2:
    raise ValueError(f"a tournament needs >= 2 players; got {k}.")
  if len(real_images) != n or len(z) != n:
    raise ValueError(f"{n} games per match need {n} real examples and latents; got "
                     f"{len(real_images)} and {len(z)}.")
  fakes = [np.asarray(sample(i, z, fake_labels)) for i in range(k)]
  examples = np.concatenate([np.asarray(real_images)] + fakes)
  labels = None
  if real_labels is not None:
    labels = np.concatenate([np.asarray(real_labels)] + [np.asarray(fake_labels)] * k)
  # scores[j, i, game]: G_i's score in each game against D_j.
  scores = np.full((k, k, n), np.nan)
  for j in range(k):
    realness = np.asarray(judge(j, examples, labels), np.float64).reshape(-1)
    real, fake = realness[:n], realness[n:].reshape(k, n)
    for i in range(k):
      if i != j:
        scores[j, i] = game_scores(real, fake[i], protocol.win_rule)

  # The pool: G_0..G_{k-1} are players 0..k-1, D_0..D_{k-1} players k..2k-1.
  ratings = [Rating()] * (2 * k)
  chunks = np.array_split(np.arange(n), protocol.rating_periods)
  period_scores = np.full((len(chunks), k, k), np.nan)
  off_diagonal = ~np.eye(k, dtype=bool)
  for p, games_of_period in enumerate(chunks):
    g_scores = scores[:, :, games_of_period].sum(axis=2).T  # [i, j]: G_i against D_j
    period_scores[p] = np.where(off_diagonal, g_scores, np.nan)
    games, pool_scores = np.zeros((2 * k, 2 * k)), np.zeros((2 * k, 2 * k))
    games[:k, k:] = off_diagonal * len(games_of_period)
    games[k:, :k] = games[:k, k:].T
    pool_scores[:k, k:] = np.where(off_diagonal, g_scores, 0.0)
    pool_scores[k:, :k] = games[k:, :k] - pool_scores[:k, k:].T
    ratings = rate_period(ratings, games, pool_scores, protocol.tau)
  win_rates = np.array([np.nanmean(scores[:, i]) for i in range(k)])
  return TournamentResult(generators=ratings[:k], discriminators=ratings[k:],
                          win_rates=win_rates, period_scores=period_scores,
                          period_games=[len(c) for c in chunks])


def ranks(ratings: Sequence[Rating]) -> List[int]:
  """1 for the highest rating, 2 for the next ... (ties keep the players' order)."""
  order = sorted(range(len(ratings)), key=lambda i: -ratings[i].rating)
  out = [0] * len(ratings)
  for rank, i in enumerate(order, 1):
    out[i] = rank
  return out


# ----------------------------------------------------------------------------------------------
# A run's checkpoints as players
# ----------------------------------------------------------------------------------------------

class CheckpointPlayers:
  """G (EMA or raw) and D of each checkpoint, restored into one inference model when a player
  other than the loaded one is asked for; `sample` and `judge` are `play_tournament`'s.

  Args:
    inference: the run's inference model (built under its parsed gin config).
    checkpoints: checkpoint prefixes, one per player, in player order.
    use_ema: sample the EMA generator (the inference model must have one).
    batch_size: examples per G or D call.
    prepare_generator: called after each restore for sampling, before the samples are drawn
      (e.g. to accumulate G's batch-norm statistics); may be None.
  """

  def __init__(self, inference: inference_lib.InferenceModel, checkpoints: Sequence[str], *,
               use_ema: bool, batch_size: int = 256,
               prepare_generator: Optional[Callable[[], None]] = None):
    self.inference, self.checkpoints = inference, list(checkpoints)
    self.use_ema, self.batch_size = use_ema, int(batch_size)
    self.prepare_generator = prepare_generator
    self.model = inference.model
    self._loaded: Optional[int] = None
    discriminator = self.model.discriminator
    self.energy = family_lib.discriminator_output(self.model) == "energy"
    one_hot = lambda labels: tf.one_hot(labels, discriminator.num_classes)

    @tf.function(autograph=False)
    def realness(images, labels):
      y = one_hot(labels) if discriminator.conditional else None
      scores = tf.cast(discriminator(images, y=y, training=False)[0], tf.float32)[:, 0]
      return -scores if self.energy else scores  # Low energy is real.
    self._realness = realness
    self._sample = inference.sample_fn(use_ema)

  def _restore(self, i: int) -> None:
    if self._loaded != i:
      self.inference.restore(self.checkpoints[i])
      self._loaded = i

  def sample(self, i: int, z: np.ndarray, labels: Optional[np.ndarray]) -> np.ndarray:
    """G_i's samples [n, *image_shape] of z [n, z_dim] (labels [n] when conditional)."""
    self._restore(i)
    if self.prepare_generator is not None:
      self.prepare_generator()
    return self._batched(lambda zz, ll: self._sample(zz, ll), z, labels)

  def judge(self, j: int, examples: np.ndarray, labels: Optional[np.ndarray]) -> np.ndarray:
    """D_j's realness scores [m] of examples [m, *image_shape] (labels [m] when D is
    conditional): logits, or minus the energy of a BEGAN autoencoder."""
    self._restore(j)
    if not self.model.discriminator.conditional:
      labels = None
    return self._batched(self._realness, examples, labels)

  def _batched(self, fn, inputs: np.ndarray, labels: Optional[np.ndarray]) -> np.ndarray:
    out = []
    for start in range(0, len(inputs), self.batch_size):
      chunk = tf.constant(inputs[start:start + self.batch_size])
      chunk_labels = (None if labels is None
                      else tf.constant(labels[start:start + self.batch_size], tf.int32))
      out.append(np.asarray(fn(chunk, chunk_labels)))
    return np.concatenate(out)


def check_players(inference: inference_lib.InferenceModel, protocol: TournamentProtocol) -> None:
  """Raises ConfigError when the run's model cannot play: no discriminator (a VAE), D batch
  norm with accumulated statistics (never accumulated for D), or the threshold rule on a
  BEGAN's energies (which have no decision threshold)."""
  model = inference.model
  family = family_lib.family_name(model)
  if model.discriminator is None:
    raise config.ConfigError(f"the tournament needs discriminators to judge the generators; "
                             f"the {family} has none.")
  if any(not s.use_moving_averages for s in normalization.standardizers(model.discriminator)):
    raise config.ConfigError("the tournament needs D in inference mode, but D's batch norm "
                             "uses accumulated statistics, which are only accumulated for G.")
  if protocol.win_rule == "threshold" and family_lib.discriminator_output(model) == "energy":
    raise config.ConfigError(f"the {family}'s D scores reconstruction energy, which has no "
                             "real/fake threshold; use the paired win rule "
                             "(--tournament_rule paired).")


def checkpoint_tournament(model_dir: str, checkpoints: Dict[int, str],
                          inference: inference_lib.InferenceModel,
                          dataset: data_base.Dataset, protocol: TournamentProtocol, *,
                          use_ema: Optional[bool] = None,
                          z_distribution: Optional[latents.LatentDistribution] = None,
                          prepare_generator: Optional[Callable[[bool], None]] = None,
                          bn_statistics: str = "moving averages") -> dict:
  """Plays the tournament between `checkpoints` ({step: prefix}, >= 2) of the run in
  `model_dir` and returns {"protocol": card, "players": [one dict per checkpoint, by step]}.

  Args:
    inference: the run's inference model; `dataset` its dataset (real examples: the first
      games_per_match of the evaluation split).
    use_ema: None: EMA generators when the run has them.
    z_distribution: the latents' distribution (default: the model's training z).
    prepare_generator: `f(use_ema)` run after each generator restore (BN accumulation);
      `bn_statistics` says what it does, for the card.

  Raises:
    ConfigError: fewer than 2 checkpoints, a model that cannot play (`check_players`), or a bad
      protocol; ValueError: the evaluation split holds fewer than games_per_match examples.
  """
  protocol.validate()
  if len(checkpoints) < 2:
    raise config.ConfigError(f"a tournament needs >= 2 checkpoints; {model_dir} has "
                             f"{len(checkpoints)} (steps {sorted(checkpoints)}). Train longer "
                             "or keep more checkpoints (train.keep_checkpoint_max).")
  check_players(inference, protocol)
  model = inference.model
  use_ema = inference.resolve_use_ema(use_ema, "evaluation.use_ema")
  dist = z_distribution or model.z
  steps = sorted(checkpoints)
  n = protocol.games_per_match
  info = dataset.info
  real_images, real_labels = _real_examples(dataset, n)
  seed = latents.derive_seed(tf.constant([protocol.seed, 0], tf.int64), latents.TOURNAMENT_Z)
  z, fake_labels = latents.draw_latents(dist, model.z_dim, model.num_classes, seed, n)
  players = CheckpointPlayers(
      inference, [checkpoints[s] for s in steps], use_ema=use_ema,
      prepare_generator=None if prepare_generator is None else lambda: prepare_generator(use_ema))
  result = play_tournament(len(steps), players.sample, players.judge, real_images,
                           real_labels if model.discriminator.conditional else None,
                           z.numpy(), None if fake_labels is None else fake_labels.numpy(),
                           protocol)
  g_ranks = ranks(result.generators)
  card = dict(
      method="skill rating tournament (Olsson et al. 2018, arXiv 1808.04888) rated by Glicko-2 "
      "(Glickman 2013)",
      players=steps, matches="G_i against D_j for every i != j",
      games_per_match=n, rating_periods=protocol.rating_periods,
      games_per_period=result.period_games, win_rule=protocol.win_rule,
      win_rule_definition=_RULE_TEXT[protocol.win_rule],
      realness=("minus D's reconstruction energy"
                if family_lib.discriminator_output(model) == "energy" else "D's logit"),
      tau=protocol.tau, initial_rating=dataclasses.asdict(Rating()), seed=protocol.seed,
      z=dist.as_dict(), generator="ema" if use_ema else "raw", bn_statistics=bn_statistics,
      real=dict(dataset=info.name, split=info.eval_split, n=n),
      family=family_lib.family_name(model))
  records = []
  for i, step in enumerate(steps):
    g, d = result.generators[i], result.discriminators[i]
    records.append(dict(
        step=step, checkpoint=os.path.relpath(checkpoints[step], model_dir),
        rating=g.rating, rd=g.rd, volatility=g.volatility, rank=g_ranks[i],
        win_rate=float(result.win_rates[i]),
        discriminator=dict(rating=d.rating, rd=d.rd, volatility=d.volatility)))
  scores = [[[None if math.isnan(v) else float(v) for v in row] for row in period]
            for period in result.period_scores]
  return dict(protocol=card, players=records, period_scores=scores)


_RULE_TEXT = {
    "threshold": "G wins if D's realness of its sample > 0 (sigmoid > 0.5); else D wins if "
                 "its realness of the real example > 0; else a draw",
    "paired": "G wins if D's realness of its sample > that of the real example, D wins if "
              "lower, a draw if equal",
}


def _real_examples(dataset: data_base.Dataset, n: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
  """The first n examples of the evaluation split, and their labels (None if unlabelled)."""
  images, labels = [], []
  for batch in dataset.eval_input(batch_size=min(n, 256), num_examples=n):
    images.append(batch["images"].numpy())
    if "labels" in batch:
      labels.append(batch["labels"].numpy())
  return np.concatenate(images), (np.concatenate(labels) if labels else None)
