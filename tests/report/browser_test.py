"""index.html in a real browser: headless Chromium draws the report of a synthetic study.

The study is written with the store's API and reported by `make_report` (real tables, plots
and significance; the galleries come from a stand-in `write_gallery`, as a real one needs
trained checkpoints). Then every PNG the page shows is replaced by one solid colour of its
own, at its size: the screenshot must show each colour over about the image's area, which a
missing file, a wrong relative link or a broken image (an icon and its alt text) cannot. The
DOM Chromium dumps after loading gives the visible text: the best setting and its value.

Chromium comes from the system packages (`apt-get install chromium`; .ci/run installs it) or
$CHROMIUM; without it the test skips and says so.
"""

import html.parser
import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from compare_gan.report import command
from compare_gan.report import galleries
from compare_gan.sweep import store as store_lib
import report_fakes  # Same folder: pytest puts it on sys.path.
from html_test import parse

NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium():
  """(binary, None), or (None, why not)."""
  wanted = os.environ.get("CHROMIUM")
  if wanted:
    path = shutil.which(wanted)
    return (path, None) if path else (None, f"$CHROMIUM={wanted!r} is not an executable")
  for name in NAMES:
    path = shutil.which(name)
    if path:
      return path, None
  return None, (f"no Chromium on PATH (looked for {', '.join(NAMES)} and $CHROMIUM); install "
                "it with `apt-get install chromium` (.ci/run does) to render index.html")


CHROMIUM, WHY_NOT = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=str(WHY_NOT))

WIDTH, HEIGHT = 1280, 9000  # CSS pixels: the whole page fits in one screenshot.
SCALE = 0.5  # Device pixels per CSS pixel: a quarter of the pixels to encode and read.
# Solid colours no part of the page's own style uses.
COLOURS = [(255, 0, 255), (0, 255, 0), (255, 255, 0), (0, 255, 255), (255, 0, 0),
           (0, 0, 255), (255, 128, 0), (128, 0, 255), (0, 128, 128), (128, 128, 0)]
NS_SN, WGAN_NONE = {"loss": "ns", "d_norm": "sn"}, {"loss": "wgan", "d_norm": "none"}
# (labels, status, swd_pixels at step 100)
TRIALS = [(NS_SN, "done", 0.21), (NS_SN, "done", 0.1765), (NS_SN, "done", 0.19),
          (WGAN_NONE, "done", 0.28), (WGAN_NONE, "done", 0.31), (WGAN_NONE, "done", 0.275936),
          (WGAN_NONE, "failed", None)]
CARD = {"metric": "swd_pixels", "num_fake": 2000, "seed": 42, "dataset": "triangles"}


def write_study(workdir):
  """study.db through the store; the best trial of each setting has a run directory."""
  study = report_fakes.fake_study("browser")
  with store_lib.Store(str(workdir / store_lib.DATABASE)) as store:
    store.init_study(study)
    for i, (labels, status, value) in enumerate(TRIALS):
      tid = store.add_trial(setting=",".join(f"{a}={v}" for a, v in labels.items()),
                            labels=labels, params={"learning_rate": 1e-3 * (i + 1)}, seed=0,
                            source="grid", trials_dir=str(workdir / "trials"),
                            description=f"trial{i + 1}")
      store.mark_running(tid)
      records = [] if value is None else [
          dict(step=step, metric="swd_pixels", value=v, status="ok", protocol=CARD)
          for step, v in ((50, value + 0.1), (100, value))]
      store.finish_trial(tid, status, value, None if value is None else 100, 50.0,
                         None if value is not None else "trial failed", records=records)
  for tid in (2, 6):
    (workdir / "trials" / f"{tid:04d}-trial{tid}").mkdir(parents=True)


def fake_write_gallery(model_dir, out_dir, *, step=None, seed=0, prefix="", **unused):
  """write_gallery's files at a real gallery's sizes (8 x 8 and 10 x 1 samples of 16 x 16
  pixels with 2 pixels of padding), without a model."""
  paths = galleries.gallery_paths(out_dir, step, prefix)
  os.makedirs(out_dir, exist_ok=True)
  Image.new("RGB", (146, 146), (90, 90, 90)).save(paths["grid"])
  Image.new("RGB", (182, 20), (90, 90, 90)).save(paths["strip"])
  return dict(paths, step=step, ema=False)


def chromium(profile, *args):
  """Starts headless Chromium with its own profile directory (two may run at once)."""
  return subprocess.Popen(
      [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
       "--no-first-run", "--disable-extensions", "--force-color-profile=srgb",
       f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}",
       f"--force-device-scale-factor={SCALE}", *args],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class VisibleText(html.parser.HTMLParser):
  """The text a reader sees: not <head>, <style>, <script>, nor a closed <details> but its
  <summary>."""

  def __init__(self):
    super().__init__(convert_charrefs=True)
    self.parts, self.hidden = [], []

  def handle_starttag(self, tag, attrs):
    if tag in ("head", "style", "script") or (tag == "details" and "open" not in dict(attrs)):
      self.hidden.append(tag)
    elif tag == "summary" and self.hidden and self.hidden[-1] == "details":
      self.hidden.append("summary")

  def handle_endtag(self, tag):
    if self.hidden and self.hidden[-1] == tag:
      self.hidden.pop()

  def handle_data(self, data):
    if not self.hidden or self.hidden[-1] == "summary":
      self.parts.append(data)


def test_the_page_in_headless_chromium(tmp_path, monkeypatch):
  workdir = tmp_path / "sweep"
  workdir.mkdir()
  write_study(workdir)
  monkeypatch.setattr(galleries, "write_gallery", fake_write_gallery)
  report = command.make_report(str(workdir), bootstrap_samples=50, log=lambda m: None)
  assert report["messages"] == []
  out = workdir / "report"

  # Each image of the page becomes one solid colour at its own size.
  sources = parse(report["index"]).images
  assert len(sources) == 8  # top 5%, budget, curves, significance, 2 x (grid + strip)
  sizes = {}
  for src, colour in zip(sources, COLOURS):
    path = out / src
    with Image.open(path) as image:
      sizes[colour] = image.size
    Image.new("RGB", sizes[colour], colour).save(path)

  url = (out / "index.html").as_uri()
  shot = tmp_path / "shot.png"
  runs = [chromium(tmp_path / "profile1", f"--screenshot={shot}", url),
          chromium(tmp_path / "profile2", "--dump-dom", url)]
  try:
    (_, err1), (dom, err2) = (run.communicate(timeout=60) for run in runs)
  finally:
    for run in runs:  # A hung browser must not outlive the test.
      if run.poll() is None:
        run.kill()
        run.wait()
  assert runs[0].returncode == 0 and shot.is_file(), err1
  assert runs[1].returncode == 0, err2

  # The visible text: the study, the best setting and its value, the failed trial's reason.
  reader = VisibleText()
  reader.feed(dom)
  text = " ".join(" ".join(reader.parts).split())
  assert text.startswith("browser ")
  assert "Best model per setting by swd_pixels" in text
  assert "sn ns 0.1765 100 2 0" in text  # d_norm, loss (the store sorts them), value, step,
  assert "none wgan 0.2759 100 6 0" in text  # trial, seed
  assert "trial failed" in text and '"num_fake": 2000' in text
  assert "The study as parsed" in text and "study.name = 'browser'" not in text  # Closed.

  # The screenshot: every image drawn at about its size, text drawn, and the whole page in it.
  pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
  assert pixels.shape == (HEIGHT * SCALE, WIDTH * SCALE, 3)
  for colour, (w, h) in sizes.items():
    shown = min(1.0, 1000 / w) * SCALE  # Wide plots shrink to the page's width (1132 px).
    area = (w * shown) * (h * shown)
    count = int(np.all(np.abs(pixels - colour) <= 3, axis=-1).sum())
    assert count >= 0.8 * area, (colour, w, h, count, area)
  dark = (pixels.sum(axis=-1) < 3 * 100).mean()
  assert dark > 0.002  # Text: not a blank page.
  assert (pixels[-20:] == 255).all()  # White below the end of the page.
