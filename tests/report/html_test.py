"""The report's index.html, read back with the standard library's HTML parser (no browser).

Its numbers are checked against best_models.csv and hand-counted values of the synthetic
study of tables_test, its protocol card against the cards written into study.db (or a run
directory's metrics.jsonl), its links against the run directories, and its escaping against
hostile strings in study.db. browser_test.py renders the page in Chromium.
"""

import html.parser
import json
import os
import pathlib
import shutil
import sqlite3
import subprocess
import sys
import urllib.parse

import pandas as pd
import pytest
from PIL import Image

from compare_gan import config
from compare_gan import run_dir as run_dir_lib
from compare_gan.report import command
from compare_gan.report import galleries
from compare_gan.report import html as html_lib
from compare_gan.sweep import store as store_lib
import report_fakes  # Same folder: pytest puts it on sys.path.
from tables_test import TRIALS, write_study_db

REPO = pathlib.Path(__file__).resolve().parents[2]


class PageParser(html.parser.HTMLParser):
  """Tables by id (rows of (text, attributes) cells), links, images, <pre> texts and the text
  of every element with an id."""

  def __init__(self):
    super().__init__(convert_charrefs=True)
    self.tables, self.links, self.images, self.pres, self.text = {}, [], [], [], []
    self.row_ids = {}
    self._table, self._row, self._cell, self._pre = None, None, None, None

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    if tag == "table":
      self._table = self.tables.setdefault(attrs.get("id", f"table{len(self.tables)}"), [])
    elif tag == "tr" and self._table is not None:
      self._row = []
      self._table.append(self._row)
      if "id" in attrs:
        self.row_ids[attrs["id"]] = self._row
    elif tag in ("td", "th") and self._row is not None:
      self._cell = [tag, "", attrs]
      self._row.append(self._cell)
    elif tag == "a":
      self.links.append(attrs.get("href"))
      if self._cell is not None:
        self._cell[2] = {**self._cell[2], "href": attrs.get("href")}
    elif tag == "img":
      self.images.append(attrs.get("src"))
    elif tag == "pre":
      self._pre = [attrs.get("class"), ""]
      self.pres.append(self._pre)

  def handle_endtag(self, tag):
    if tag == "table":
      self._table = None
    elif tag == "tr":
      self._row = None
    elif tag in ("td", "th"):
      self._cell = None
    elif tag == "pre":
      self._pre = None

  def handle_data(self, data):
    self.text.append(data)
    if self._cell is not None:
      self._cell[1] += data
    if self._pre is not None:
      self._pre[1] += data


def parse(path):
  parser = PageParser()
  parser.feed(pathlib.Path(path).read_text(encoding="utf-8"))
  parser.text = " ".join(" ".join(parser.text).split())
  return parser


def report(workdir, *args):
  """`compare_gan report` in this process, quietly; returns (exit status, page)."""
  status = command.main(["--workdir", str(workdir), "--bootstrap_samples", "50", *args])
  return status, parse(workdir / "report" / "index.html")


# ---------------------------------------------------------------------------------------------
# Numbers.

def test_the_best_table_is_best_models_csv(tmp_path, capsys):
  write_study_db(tmp_path)
  status, page = report(tmp_path, "--no_plots")
  assert status == 0
  csv = pd.read_csv(tmp_path / "report" / "best_models.csv")
  header, *rows = page.tables["best-models"]
  assert [c[1] for c in header] == list(csv.columns)
  assert len(rows) == len(csv) == 3
  for row, (_, expected) in zip(rows, csv.iterrows()):
    for (_, text, attrs), column in zip(row, csv.columns):
      value = expected[column]
      if "data-value" in attrs:  # Every number: exactly the CSV's.
        if pd.isna(value):
          assert attrs["data-value"] == "" and text == ""
        else:
          assert float(attrs["data-value"]) == float(value), column
      else:
        assert text == ("" if pd.isna(value) else str(value)), column
  # The visible cells, rounded as best_models.md (tables_test's hand-computed first row).
  assert [c[1] for c in rows[0]] == ["ns", "gp", "29.250", "300", "12", "0", "0.0002", "0.5",
                                     "1", "4", "0", "0", "0", "30.750"]
  assert rows[0][4][2]["href"] == "#trial-12" and "trial-12" in page.row_ids
  assert [c[1] for c in page.row_ids["trial-12"][:5]] == ["12", "loss=ns, penalty=gp", "done",
                                                          "29.250", "300"]


def test_study_facts_and_counts_by_status(tmp_path):
  write_study_db(tmp_path)
  _, page = report(tmp_path, "--no_plots")
  header, counts = page.tables["status-counts"]
  # TRIALS by hand: 1 pending, 1 running, 10 done, 2 failed, 2 diverged.
  assert [c[1] for c in header] == ["pending", "running", "done", "failed", "diverged", "all"]
  assert [c[1] for c in counts] == ["1", "1", "10", "2", "2", "16"]
  assert "fid_score (min, reduced over steps by best)" in page.text
  assert "../study.db" in page.links
  # The trials table: one row per trial, its run directory linked relatively.
  assert len(page.tables["trials"]) == 1 + len(TRIALS)
  assert "../trials/0007/" in page.links and "boom" in page.text


def test_an_empty_study_still_has_a_page(tmp_path):
  write_study_db(tmp_path, trials=[])
  status, page = report(tmp_path)
  assert status == 0
  assert "No trial in study.db yet." in page.text
  assert "No finished trial with a fid_score value yet" in page.text  # The notes section.
  assert [c[1] for c in page.tables["status-counts"][1]] == ["0"] * 6


def test_significance_always_and_reruns_when_the_study_has_them(tmp_path):
  write_study_db(tmp_path)
  _, page = report(tmp_path, "--no_plots")
  assert "Significance and intervals" in page.text and "Seed spread of re-runs" not in page.text
  # Trial 12 (the best of loss=ns,penalty=gp, 29.25) trained again with seeds 1 and 2; the
  # first re-run beats it.
  db = sqlite3.connect(str(tmp_path / "study.db"))
  for tid, seed, fid in ((17, 1, 28.0), (18, 2, 32.0)):
    db.execute("INSERT INTO trials (id, setting, labels, params, seed, source, status, "
               "objective, objective_step, run_dir, attempts) VALUES (?, 'loss=ns,penalty=gp', "
               "?, ?, ?, 'rerun', 'done', ?, 300, ?, 1)",
               (tid, json.dumps({"loss": "ns", "penalty": "gp"}),
                json.dumps({"learning_rate": 2e-4, "beta1": 0.5, "lambda": 1.0}), seed, fid,
                str(tmp_path / "trials" / f"{tid:04d}")))
  db.commit()
  db.close()
  _, page = report(tmp_path, "--no_plots")
  assert "Seed spread of re-runs" in page.text
  table = next(t for t in page.tables.values() if "mean fid_score" in [c[1] for c in t[0]])
  header = [c[1] for c in table[0]]
  row = dict(zip(header, [c[1] for c in table[1]]))
  # By hand: mean of 28 and 32, sample std sqrt(8), beside trial 12's 29.25.
  assert (row["trial"], row["search fid_score"], row["mean fid_score"], row["std"]) == (
      "12", "29.250", "30.000", "2.828")
  assert "../reruns_fid_score.csv" not in page.links and "reruns_fid_score.csv" in page.links
  # A re-run is no search trial: the best of the setting, its counts and the protocol card's
  # trial stay the search's; the trials table lists the re-runs.
  assert [c[1] for c in page.tables["best-models"][1]][2:5] == ["29.250", "300", "12"]
  assert [c[1] for c in page.tables["best-models"][1]][-5:] == ["4", "0", "0", "0", "30.750"]
  assert "the best trial (trial 12, step 300;" in page.text
  assert [c[1] for c in page.row_ids["trial-17"][:7]] == [
      "17", "loss=ns, penalty=gp", "done", "28.000", "300", "1", "rerun"]


# ---------------------------------------------------------------------------------------------
# The protocol card.

CARD = {"metric": "swd_pixels", "num_fake": 2000, "seed": 42,
        "feature_extractor": {"id": "pixels_16x16x1", "weights_file": "/cache/a"}}


def store_study(workdir, trials, name="cards", card_in_db=True):
  """study.db written by the store: `trials` is a list of (labels, status, value, card); each
  done trial has swd_pixels records at steps 1 and 2 (its value at step 2)."""
  study = report_fakes.fake_study(name)
  with store_lib.Store(str(workdir / store_lib.DATABASE)) as store:
    store.init_study(study)
    for i, (labels, status, value, card) in enumerate(trials):
      key = ",".join(f"{a}={v}" for a, v in labels.items())
      tid = store.add_trial(setting=key, labels=labels, params={"lr": 1e-4 * (i + 1)}, seed=0,
                            source="grid", trials_dir=str(workdir / "trials"),
                            description=f"t{i}")
      store.mark_running(tid)
      records = [] if value is None else [
          dict(step=s, metric="swd_pixels", value=v, status="ok",
               protocol=card if card_in_db else None) for s, v in ((1, value + 1), (2, value))]
      store.finish_trial(tid, status, value, None if value is None else 2, 3.0,
                         None if status == "done" else "error <b>text</b>", records=records)
  return workdir


def test_the_protocol_card_of_the_best_trial(tmp_path):
  elsewhere = dict(CARD, feature_extractor={"id": "pixels_16x16x1", "weights_file": "/other"})
  other = dict(CARD, num_fake=500)
  store_study(tmp_path, [({"loss": "ns"}, "done", 0.5, CARD),
                         ({"loss": "ns"}, "done", 0.7, elsewhere),  # Same protocol.
                         ({"loss": "wgan"}, "done", 0.9, other)])
  _, page = report(tmp_path, "--no_plots")
  (_, text), = [p for p in page.pres if p[0] == "card"]
  assert json.loads(text) == CARD
  assert text == json.dumps(CARD, indent=2, sort_keys=True)  # Pretty-printed.
  assert "trial 1, step 2; read from study.db's results table" in page.text
  assert "records of swd_pixels of trials 3 carry another protocol card" in page.text
  card = html_lib.objective_card(*_values(tmp_path, "swd_pixels", "min"))
  assert (card.trial, card.step, card.differing, card.records) == (1, 2, [3], 6)


def _values(workdir, metric, mode):
  from compare_gan.report import tables
  trials, results = tables.load(str(workdir))
  return (tables.with_values(trials, results, metric, mode, tables.read_objective(str(workdir))),
          results, metric, mode)


def test_a_card_missing_in_study_db_is_read_from_metrics_jsonl(tmp_path):
  store_study(tmp_path, [({"loss": "ns"}, "done", 0.5, None)], card_in_db=False)
  model_dir = tmp_path / "trials" / "0001-t0"
  model_dir.mkdir(parents=True)
  run_dir_lib.append_metrics(str(model_dir), [
      dict(step=2, metric="swd_pixels", value=0.5, status="ok", protocol={"old": True}),
      dict(step=2, metric="swd_pixels", value=0.5, status="ok", protocol=CARD),  # The newest.
      dict(step=1, metric="swd_pixels", value=1.5, status="ok", protocol={"step": 1})])
  _, page = report(tmp_path, "--no_plots")
  (_, text), = [p for p in page.pres if p[0] == "card"]
  assert json.loads(text) == CARD
  assert f"read from {model_dir / 'metrics.jsonl'}" in page.text
  # Neither study.db nor metrics.jsonl: said so.
  (model_dir / "metrics.jsonl").unlink()
  _, page = report(tmp_path, "--no_plots")
  assert not [p for p in page.pres if p[0] == "card"]
  assert "No protocol card is recorded for swd_pixels of the best trial" in page.text


# ---------------------------------------------------------------------------------------------
# Strings and links.

def test_every_string_from_study_db_is_escaped(tmp_path):
  hostile = "<script>alert(1)</script>"
  store_study(tmp_path, [({"loss": hostile}, "done", 0.5, {"note": "<i>card</i> & co"}),
                         ({"loss": "a&b"}, "failed", None, None)], name="x <b>bold</b> & y")
  _, page = report(tmp_path, "--no_plots")
  raw = (tmp_path / "report" / "index.html").read_text()
  for markup in ("<script>", "<b>", "<i>card"):
    assert markup not in raw
  assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
  # Parsed back, the strings are what study.db holds.
  assert f"loss={hostile}" in page.text and "x <b>bold</b> & y" in page.text
  assert "error <b>text</b>" in page.text and "loss=a&b" in page.text
  assert json.loads(next(t for c, t in page.pres if c == "card")) == {"note": "<i>card</i> & co"}


def test_run_directory_links(tmp_path):
  workdir, out = tmp_path / "sweep", tmp_path / "sweep" / "report"
  inside = workdir / "trials" / "0001-lr=1e-4 a#b"
  assert html_lib.run_dir_href(str(inside), str(workdir), str(out)) == (
      "../trials/0001-lr%3D1e-4%20a%23b/")
  outside = tmp_path / "shared" / "0002"
  assert html_lib.run_dir_href(str(outside), str(workdir), str(out)) == (
      pathlib.Path(outside).as_uri() + "/")
  assert html_lib.run_dir_href("gs://bucket/trials/0003", str(workdir), str(out)) is None
  # A relative link resolves, from the page's directory, to the run directory.
  href = html_lib.run_dir_href(str(inside), str(workdir), str(out))
  assert os.path.normpath(out / urllib.parse.unquote(href)) == str(inside)


# ---------------------------------------------------------------------------------------------
# Galleries.

def fake_gallery(calls, fail=None):
  """write_gallery's contract without a model: records its arguments, writes its two files,
  or raises `fail[model_dir]`."""
  def write_gallery(model_dir, out_dir, *, step=None, seed=0, prefix="", **unused):
    calls.append((model_dir, out_dir, step, seed, prefix))
    if fail and model_dir in fail:
      raise fail[model_dir]
    paths = galleries.gallery_paths(out_dir, step, prefix)
    os.makedirs(out_dir, exist_ok=True)
    for path in paths.values():
      pathlib.Path(path).write_bytes(b"\x89PNG\r\n\x1a\n")
    return dict(paths, step=step, ema=True)
  return write_gallery


def test_galleries_of_each_settings_best_trial(tmp_path, monkeypatch, capsys):
  write_study_db(tmp_path)
  best_gp, best_none = tmp_path / "trials" / "0012", tmp_path / "trials" / "0004"
  best_gp.mkdir(parents=True)
  calls = []
  monkeypatch.setattr(galleries, "write_gallery", fake_gallery(calls))
  status, page = report(tmp_path, "--seed", "7")
  assert status == 0
  out = str(tmp_path / "report" / "galleries")
  # The best trial of loss=ns,penalty=gp at its best step; trial 4's directory is missing.
  assert calls == [(str(best_gp), out, 300, 7, "trial_0012_")]
  assert "galleries/trial_0012_gallery_step300.png" in page.images
  assert "galleries/trial_0012_interpolation_step300.png" in page.images
  note = (f"No gallery of loss=ns, penalty=none (trial 4): its run directory {best_none} does "
          "not exist.")
  assert note in page.text and note in capsys.readouterr().err
  # A checkpoint that is gone, or a damaged one: a note each, and the report is made.
  best_none.mkdir()
  calls.clear()
  monkeypatch.setattr(galleries, "write_gallery", fake_gallery(calls, fail={
      str(best_gp): config.ConfigError(f"No checkpoint for step 300 in {best_gp}; available "
                                       "steps: [100]."),
      str(best_none): OSError(5, "Input/output error", str(best_none / "checkpoints"))}))
  status, page = report(tmp_path)
  assert status == 0 and len(calls) == 2
  assert (f"No gallery of loss=ns, penalty=gp (trial 12, step 300): No checkpoint for step 300 "
          f"in {best_gp}; available steps: [100].") in page.text
  assert f"(trial 4, step 200): {best_none / 'checkpoints'}: Input/output error" in page.text


def test_a_bug_in_a_gallery_is_not_hidden(tmp_path, monkeypatch):
  write_study_db(tmp_path)
  (tmp_path / "trials" / "0012").mkdir(parents=True)
  monkeypatch.setattr(galleries, "write_gallery", fake_gallery(
      [], fail={str(tmp_path / "trials" / "0012"): KeyError("a bug")}))
  with pytest.raises(KeyError, match="a bug"):
    command.make_report(str(tmp_path), bootstrap_samples=20, log=lambda m: None)


def test_no_galleries_and_no_plots(tmp_path, monkeypatch):
  write_study_db(tmp_path)
  (tmp_path / "trials" / "0012").mkdir(parents=True)

  def never(*args, **kwargs):
    raise AssertionError("write_gallery called")
  monkeypatch.setattr(galleries, "write_gallery", never)
  for flags, why, pictures in ((["--no_galleries"], "--no_galleries", 4),
                               (["--no_plots"], "--no_plots", 0)):
    status, page = report(tmp_path, *flags)
    assert status == 0 and f"Not drawn ({why})." in page.text
    assert not (tmp_path / "report" / "galleries").exists()
    assert len(page.images) == pictures  # top 5%, budget, curves and significance
    for src in page.images:
      assert (tmp_path / "report" / src).is_file()


def test_the_command_prints_the_page_and_loads_no_tensorflow(tmp_path):
  write_study_db(tmp_path)
  script = ("import sys\nfrom compare_gan.report import command\n"
            f"status = command.main(['--workdir', {str(tmp_path)!r}, '--bootstrap_samples', '20',"
            " '--no_plots'])\nprint('tensorflow' in sys.modules)\nsys.exit(status)\n")
  done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                        text=True, timeout=120)
  assert done.returncode == 0, done.stderr
  lines = done.stdout.strip().splitlines()
  assert lines[-2] == ("Report page (open it in a browser): "
                       f"{tmp_path / 'report' / 'index.html'}")
  assert lines[-1] == "False"  # The trials' run directories are missing: no TensorFlow.


# ---------------------------------------------------------------------------------------------
# The markdown of the other writers.

def test_markdown_to_html():
  text = ("# Title & <co>\n\nA paragraph\ncontinued with `code` and **bold**.\n\n"
          "| a | b \\| c |\n|---|---:|\n| <x> | 1.5 |\n| - | 2 |\n\n- one\n- two\n")
  out = html_lib.markdown_to_html(text)
  assert out.splitlines() == [
      "<h3>Title &amp; &lt;co&gt;</h3>",
      "<p>A paragraph continued with <code>code</code> and <strong>bold</strong>.</p>",
      '<div class="scroll"><table><thead><tr><th>a</th><th class="num">b | c</th></tr></thead>'
      '<tbody><tr><td>&lt;x&gt;</td><td class="num">1.5</td></tr><tr><td>-</td>'
      '<td class="num">2</td></tr></tbody></table></div>',
      "<ul><li>one</li><li>two</li></ul>"]
  assert html_lib.markdown_to_html("| not a table\n") == "<p>| not a table</p>"
  assert html_lib.markdown_to_html("") == ""


# ---------------------------------------------------------------------------------------------
# Real galleries (slow: trains a tiny run).

TINY_RUN = ["G.width = 0.0625", "D.width = 0.0625", "ModularGAN.z_dim = 8",
            "train.batch_size = 8", "train.save_checkpoints_steps = 2",
            "train.training_steps = 4", "train.image_summary_every_steps = 1000"]


@pytest.mark.slow
def test_real_galleries_and_unreadable_checkpoints(tmp_path, capsys):
  import gin
  from compare_gan import cli
  run = tmp_path / "trained"
  flags = [a for b in TINY_RUN for a in ("--gin_bindings", b)]
  gin.clear_config()
  assert cli.main(["train", "--model_dir", str(run), "--gin_config",
                   str(REPO / "configs" / "examples" / "triangles_sndcgan.gin"), *flags]) == 0
  gin.clear_config()
  # Three settings, each trial best at step 2 (store_study), each its own copy of the run.
  store_study(tmp_path, [({"loss": "ns"}, "done", 0.2, CARD),
                         ({"loss": "wgan"}, "done", 0.3, CARD),
                         ({"loss": "hinge"}, "done", 0.4, CARD)])
  trials = tmp_path / "trials"
  for name in ("0001-t0", "0002-t1", "0003-t2"):
    shutil.copytree(run, trials / name)
  for f in (trials / "0002-t1" / "checkpoints").glob("*-2.*"):
    f.unlink()  # The checkpoint of its best step is gone.
  for f in (trials / "0003-t2" / "checkpoints").glob("*.index"):
    f.write_bytes(b"damaged")
  status, page = report(tmp_path)
  assert status == 0
  grid = tmp_path / "report" / "galleries" / "trial_0001_gallery_step2.png"
  assert "galleries/trial_0001_gallery_step2.png" in page.images and grid.is_file()
  assert Image.open(grid).size == (8 * (28 + 2) + 2,) * 2  # 8 x 8 triangles of 28 x 28
  assert (f"No gallery of loss=wgan (trial 2, step 2): No checkpoint for step 2 in "
          f"{trials / '0002-t1'}; available steps: [4].") in page.text
  assert (f"No gallery of loss=hinge (trial 3, step 2): a checkpoint in {trials / '0003-t2'} "
          "cannot be read (") in page.text
