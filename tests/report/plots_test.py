"""Report plots on a synthetic study.db: every PNG is written, readable and not blank."""

import numpy as np
import pytest
from matplotlib import image

from compare_gan.report import command
from compare_gan.report import plots
from compare_gan.report import tables
from tables_test import TRIALS, write_study_db  # Same folder: pytest puts it on sys.path.

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(path, min_width=400):
  with open(path, "rb") as f:
    assert f.read(8) == PNG_SIGNATURE
  pixels = image.imread(path)
  assert pixels.ndim == 3 and pixels.shape[1] >= min_width and pixels.shape[0] >= 200
  assert pixels[..., :3].std() > 0.02  # Something is drawn on the white background.
  return pixels.shape


def _with_values(workdir, metric="fid_score", mode="min"):
  trials, results = tables.load(str(workdir))
  return tables.with_values(trials, results, metric, mode, ("fid_score", "min")), results


def test_report_writes_every_plot(tmp_path):
  write_study_db(tmp_path)
  report = command.make_report(str(tmp_path), bootstrap_samples=200, galleries=False,
                               log=lambda m: None)
  names = sorted(p.rsplit("/", 1)[-1] for p in report["files"])
  assert names == ["best_models.csv", "best_models.md", "best_models.tex", "budget_fid_score.csv",
                   "budget_fid_score.png", "curves_fid_score.png", "index.html",
                   "intervals_fid_score.csv", "intervals_fid_score.md",
                   "significance_fid_score.csv", "significance_fid_score.md",
                   "significance_fid_score.png", "significance_fid_score.tex",
                   "top5_fid_score.png", "trials.csv"]
  assert report["files"][-1] == report["index"] == str(tmp_path / "report" / "index.html")
  assert report["messages"] == []
  for path in report["files"]:
    if path.endswith(".png"):
      _check_png(path)
  # Two settings with finished trials: the curves figure has two panels side by side.
  height, width, _ = _check_png(str(tmp_path / "report" / "curves_fid_score.png"))
  assert width > height


def test_nothing_to_draw_returns_none(tmp_path):
  write_study_db(tmp_path, trials=[t for t in TRIALS if t[2] != "done"])
  trials, results = _with_values(tmp_path)
  assert plots.top_percent_plot(trials, "fid_score", "min", str(tmp_path / "a.png")) is None
  budget = tables.budget_table(trials, "fid_score", "min")
  assert budget.empty
  assert plots.budget_plot(budget, "fid_score", "min", str(tmp_path / "b.png")) is None
  # Only the diverged trial 8 has records; its curve is still worth seeing (dashed).
  assert plots.curves_plot(trials, results, "fid_score", "min", str(tmp_path / "c.png"))
  assert plots.curves_plot(trials, results, "kid_score", "min", str(tmp_path / "d.png")) is None
  assert not (tmp_path / "a.png").exists() and not (tmp_path / "d.png").exists()


def test_many_settings_and_trials(tmp_path):
  rng = np.random.default_rng(0)
  many, tid = [], 0
  for s in range(11):  # > 10 settings: the 20-colour cycle; 21 trials: logarithmic k axis.
    for _ in range(21):
      tid += 1
      status = "done" if rng.random() > 0.1 else "diverged"
      fid = float(rng.uniform(25, 90)) + 3 * s if status == "done" else None
      many.append((tid, {"arch": f"resnet{s}", "norm": "sn"}, status, fid, 200, 1e-4, None))
  write_study_db(tmp_path, trials=many, extra_records=False)
  trials, results = _with_values(tmp_path)
  top = plots.top_percent_plot(trials, "fid_score", "min", str(tmp_path / "top.png"))
  height, width, _ = _check_png(top)
  assert height > 500  # One row per setting.
  budget = tables.budget_table(trials, "fid_score", "min", samples=100)
  _check_png(plots.budget_plot(budget, "fid_score", "min", str(tmp_path / "budget.png")))
  # Four panels in a 3-column grid: the two empty slots are hidden. (Four, not eleven: each
  # panel costs drawing time.)
  four = trials[trials["setting"].isin(trials["setting"].unique()[:4])].groupby("setting").head(6)
  height, width, _ = _check_png(
      plots.curves_plot(four, results, "fid_score", "min", str(tmp_path / "c.png")),
      min_width=1000)
  assert height > 600


@pytest.mark.parametrize("mode", ["min", "max"])
def test_top_percent_plot_orders_by_median(tmp_path, mode, monkeypatch):
  write_study_db(tmp_path)
  trials, _ = _with_values(tmp_path, mode=mode)
  drawn = {}
  real = plots._horizontal_boxplot
  def spy(ax, data, positions):
    drawn["medians"] = [float(np.median(d)) for d in data]
    real(ax, data, positions)
  monkeypatch.setattr(plots, "_horizontal_boxplot", spy)
  plots.top_percent_plot(trials, "fid_score", mode, str(tmp_path / "t.png"))
  # Drawn bottom to top: the best median last (at the top).
  expected = [33.0, 29.25] if mode == "min" else [58.0, 80.0]
  assert drawn["medians"] == expected


def _drawn_axes(monkeypatch):
  """Spies on plots._save: the list of figures drawn (saved as usual)."""
  figures = []
  real = plots._save
  def spy(fig, path, outside_legend=False):
    figures.append(fig)
    return real(fig, path, outside_legend)
  monkeypatch.setattr(plots, "_save", spy)
  return figures


def _visible_x_ticks(ax):
  low, high = sorted(ax.get_xlim())
  return [t for t in ax.xaxis.get_majorticklocs() if low <= t <= high]


@pytest.mark.parametrize("trials_per_setting", [3, 21])
def test_axes_that_count_have_integer_ticks(tmp_path, monkeypatch, trials_per_setting):
  # 3 trials: matplotlib's default locator would tick k at 1.0, 1.25, ..., 3.0; 21: log axis.
  few = [(i + 1, {"loss": "ns"}, "done", 30.0 + i, 200, 1e-4, None)
         for i in range(trials_per_setting)]
  write_study_db(tmp_path, trials=few, extra_records=False)
  trials, results = _with_values(tmp_path)
  figures = _drawn_axes(monkeypatch)
  budget = tables.budget_table(trials, "fid_score", "min", samples=20)
  plots.budget_plot(budget, "fid_score", "min", str(tmp_path / "b.png"))
  k_ticks = _visible_x_ticks(figures[0].axes[0])
  assert k_ticks == ([1, 2, 3] if trials_per_setting == 3 else [1, 2, 5, 10, 20])
  # Training steps are whole numbers too: steps 1, 2, 3 get no tick at 1.5.
  short = results.assign(step=results["step"] // 100)
  plots.curves_plot(trials, short, "fid_score", "min", str(tmp_path / "c.png"))
  assert _visible_x_ticks(figures[1].axes[0]) == [1, 2, 3]
