"""Where an export may go (compare_gan/hub/export.py `check_export_dir`, `_publish`): never the
run directory, a directory containing it, its checkpoints/, tb/ or tfhub/, nor a directory
holding anything but a previous export, even with --overwrite; symlinks, `.`/`..` and trailing
slashes do not fool it; a replaced export is swapped, so a failure keeps the old one. Each
refusal is one line, exit 2, decided before the model is built, and the run keeps every file."""

import json
import os
import shutil

import gin
import pytest
import tensorflow as tf

from compare_gan import cli
from compare_gan import config
from compare_gan import run_dir
from compare_gan.gans import modular_gan
from compare_gan.hub import export
from compare_gan.training import checkpoints

TRIANGLES = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "examples",
                         "triangles_sndcgan.gin")
# A sixteenth-width SNDCGAN: building and exporting it takes about a second.
TINY = ["G.width = 0.0625", "D.width = 0.0625", "ModularGAN.z_dim = 8"]


def _cli(*argv):
  gin.clear_config()
  return cli.main([str(a) for a in argv])


def _files(root):
  """{relative path: bytes} of every file under `root` (symlinks not followed)."""
  out = {}
  for directory, _, names in os.walk(root):
    for name in names:
      path = os.path.join(directory, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, root)] = f.read()
  return out


def _one_line(err):
  lines = err.strip().splitlines()
  assert len(lines) == 1, err
  return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A run directory (config.gin, a checkpoint of step 1, a tb/ event file) and an export of
  it written by `Exporter.export`."""
  root = tmp_path_factory.mktemp("trained")
  model_dir = root / "run"
  model_dir.mkdir()
  gin.clear_config()
  run_dir.write_config(str(model_dir), config.parse_gin([TRIANGLES], TINY))
  model = modular_gan.ModularGAN((28, 28, 1), None)
  checkpoint = tf.train.Checkpoint(step=tf.Variable(1, dtype=tf.int64),
                                   data_position=tf.Variable(0, dtype=tf.int64),
                                   **model.checkpoint_items())
  checkpoints.Checkpoints(checkpoint, str(model_dir / run_dir.CHECKPOINTS), 5,
                          log=lambda s: None).save(1)
  (model_dir / run_dir.TENSORBOARD).mkdir()
  (model_dir / run_dir.TENSORBOARD / "events.out.tfevents.1").write_bytes(b"events")
  export.Exporter(str(model_dir), log=lambda s: None).export(str(root / "previous"))
  gin.clear_config()
  return dict(model_dir=model_dir, previous=root / "previous")


@pytest.fixture
def work(trained, tmp_path, monkeypatch):
  """A copy of the run and of its export in `tmp_path/work`; `built` records each Exporter
  built (a refusal must come before the model is built), which then exports for real, so a
  check that lets a bad directory through shows as lost files too."""
  base = tmp_path / "work"
  shutil.copytree(trained["model_dir"], base / "run", symlinks=True)
  shutil.copytree(trained["previous"], base / "previous")
  built, exporter = [], export.Exporter

  def recording(*args, **kwargs):
    built.append(args)
    return exporter(*args, **kwargs)
  monkeypatch.setattr(export, "Exporter", recording)
  return dict(base=base, run=base / "run", previous=base / "previous", built=built)


def _previous_with(work, name, content=b"x"):
  """A copy of the previous export with one more file `name` (a relative path)."""
  target = work["base"] / "touched"
  shutil.copytree(work["previous"], target)
  (target / name).write_bytes(content)
  return target


def _third_party(work):
  target = work["base"] / "third_party"
  shutil.copytree(work["previous"], target)
  os.remove(target / "assets" / export.METADATA_FILE)
  return target


def _wrong_format(work):
  target = work["base"] / "wrong_format"
  shutil.copytree(work["previous"], target)
  (target / "assets" / export.METADATA_FILE).write_text(json.dumps({"format": "mine"}))
  return target


def _symlink(work, name, to):
  link = work["base"] / name
  os.symlink(to, link)
  return link


def _user_dir(work):
  target = work["base"] / "notes"
  target.mkdir()
  (target / "notes.txt").write_text("mine")
  return target


def _file(work):
  target = work["base"] / "file.txt"
  target.write_text("mine")
  return target


# (export dir made from `work`, what the message says): every one refused with --overwrite.
REFUSED = {
    "run": (lambda w: w["run"], "is the run directory"),
    "run/": (lambda w: f"{w['run']}/", "is the run directory"),
    "run/../run/.": (lambda w: f"{w['run']}/../run/.", "is the run directory"),
    "link to run": (lambda w: _symlink(w, "link", w["run"]), "is the run directory"),
    "parent": (lambda w: w["base"], "contains the run directory"),
    "link to parent": (lambda w: _symlink(w, "up", w["base"]), "contains the run directory"),
    "checkpoints": (lambda w: w["run"] / run_dir.CHECKPOINTS, "inside the run's checkpoints/"),
    "in checkpoints": (lambda w: w["run"] / run_dir.CHECKPOINTS / "export",
                       "inside the run's checkpoints/"),
    "tb via link": (lambda w: _symlink(w, "runlink", w["run"]) / run_dir.TENSORBOARD / "x",
                    "inside the run's tb/"),
    "tfhub": (lambda w: w["run"] / run_dir.TFHUB, "is the run's tfhub/"),
    "user directory": (_user_dir, "it holds notes.txt, which no export writes"),
    "export + file": (lambda w: _previous_with(w, "notes.txt"), "it holds notes.txt"),
    "export + nested file": (lambda w: _previous_with(w, "variables/notes.txt"),
                             "it holds variables/notes.txt"),
    "savedmodel without our metadata": (_third_party, "has no assets/compare_gan_metadata.json"),
    "other metadata": (_wrong_format, "is not compare_gan export metadata"),
    "file": (_file, "is an existing file"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_export_dirs_keep_every_file(case, work, capsys):
  make, says = REFUSED[case]
  target = str(make(work))
  before = _files(work["base"])
  assert _cli("export", "--model_dir", work["run"], "--export_dir", target,
              "--overwrite") == run_dir.EXIT_USAGE
  line = _one_line(capsys.readouterr().err)
  assert line.startswith("compare_gan export: export directory ") and says in line, line
  assert target in line
  assert not work["built"]
  assert _files(work["base"]) == before  # The run, the export, the user's files: all there.
  assert os.path.isfile(work["run"] / run_dir.CONFIG)
  assert os.listdir(work["run"] / run_dir.CHECKPOINTS)


def test_the_run_directory_given_as_dot(work, capsys, monkeypatch):
  monkeypatch.chdir(work["run"])
  assert _cli("export", "--model_dir", work["run"], "--export_dir", ".",
              "--overwrite") == run_dir.EXIT_USAGE
  line = _one_line(capsys.readouterr().err)
  assert "export directory . is the run directory" in line and not work["built"]
  assert os.path.isfile(work["run"] / run_dir.CONFIG)


def test_without_overwrite_a_previous_export_is_kept_and_a_user_dir_is_not_offered_overwrite(
    work, capsys):
  before = _files(work["base"])
  assert _cli("export", "--model_dir", work["run"], "--export_dir",
              work["previous"]) == run_dir.EXIT_USAGE
  line = _one_line(capsys.readouterr().err)
  assert f"{work['previous']} holds a previous export; pass --overwrite" in line
  user = _user_dir(work)
  assert _cli("export", "--model_dir", work["run"], "--export_dir", user) == run_dir.EXIT_USAGE
  line = _one_line(capsys.readouterr().err)
  assert "--overwrite only replaces a previous export" in line  # --overwrite would not help.
  assert _files(work["base"]) == {**before, "notes/notes.txt": b"mine"}


@pytest.mark.parametrize("export_dir, says", [
    ("gs://bucket/runs/a/", "is the run directory"),
    ("gs://bucket//runs/b/../a", "is the run directory"),
    ("gs://bucket/runs", "contains the run directory"),
    ("gs://bucket", "contains the run directory"),
    ("gs://bucket/runs/a/./checkpoints/x", "inside the run's checkpoints/"),
    ("gs://bucket/runs/a/tb", "inside the run's tb/"),
    ("gs://bucket/runs/a/tfhub/", "is the run's tfhub/"),
])
def test_remote_paths_are_compared_normalised(export_dir, says):
  # Each is refused from the strings alone, before any request to the bucket.
  with pytest.raises(export.ExportDirError, match=says):
    export.check_export_dir(export_dir, "gs://bucket/runs/a", overwrite=True)


def test_the_root_contains_every_run(trained):
  with pytest.raises(export.ExportDirError, match="export directory / contains the run"):
    export.check_export_dir("/", str(trained["model_dir"]), overwrite=True)


def test_layout_of_an_export(trained, tmp_path):
  """`not_an_export` accepts exactly what `Exporter.export` writes (EXPORT_LAYOUT)."""
  previous = str(trained["previous"])
  assert export.not_an_export(previous) is None
  top = set(os.listdir(previous))
  assert {"saved_model.pb", "variables", "assets"} <= top <= set(export.EXPORT_LAYOUT)
  assert os.listdir(os.path.join(previous, "assets")) == [export.METADATA_FILE]
  copy = tmp_path / "copy"
  shutil.copytree(previous, copy)
  os.mkdir(copy / "variables" / "variables.index.d")  # a directory where files belong
  assert "variables/variables.index.d" in export.not_an_export(str(copy))
  shutil.rmtree(copy / "variables" / "variables.index.d")
  os.remove(copy / "saved_model.pb")
  assert export.not_an_export(str(copy)) == "it has no saved_model.pb"
  for i in range(5):
    (copy / f"stray{i}").write_text("")
  assert export.not_an_export(str(copy)).startswith("it holds stray0, stray1, stray2 and 2 more")


# ----------------------------------------------------------------------------------------------
# Exports that go through: tfhub/<step> inside the run (the runner's path), and replacing one
# ----------------------------------------------------------------------------------------------

def test_exporter_writes_tfhub_step_and_refuses_the_run(trained, tmp_path):
  """`Exporter.export`, as runner.py calls it for tfhub/<step>, checks too."""
  run = tmp_path / "run"
  shutil.copytree(trained["model_dir"], run)
  before = _files(run)
  config.parse_gin([str(run / run_dir.CONFIG)], [])
  exporter = export.Exporter(str(run), log=lambda s: None)
  with pytest.raises(export.ExportDirError, match="is the run directory"):
    exporter.export(str(run), overwrite=True)
  with pytest.raises(export.ExportDirError, match="contains the run directory"):
    export.export_run(str(run), str(tmp_path), overwrite=True)
  target = run / run_dir.TFHUB / "1"
  assert exporter.export(str(target))["step"] == 1
  assert export.not_an_export(str(target)) is None
  with pytest.raises(export.ExportDirError, match="holds a previous export"):
    exporter.export(str(target))
  exporter.export(str(target), overwrite=True, include_discriminator=False)
  with open(target / "assets" / export.METADATA_FILE) as f:
    assert json.load(f)["discriminator"].startswith("not exported")
  assert os.listdir(run / run_dir.TFHUB) == ["1"]  # no staging or old copy left
  after = _files(run)
  assert {k: v for k, v in after.items() if not k.startswith(run_dir.TFHUB)} == before


def _fake_export(path, label):
  """A directory in EXPORT_LAYOUT whose files say `label`."""
  os.makedirs(os.path.join(path, "variables"))
  os.makedirs(os.path.join(path, "assets"))
  for name in ("saved_model.pb", "variables/variables.index",
               "variables/variables.data-00000-of-00001"):
    with open(os.path.join(path, name), "w") as f:
      f.write(label)
  with open(os.path.join(path, "assets", export.METADATA_FILE), "w") as f:
    json.dump({"format": export.FORMAT, "label": label}, f)
  assert export.not_an_export(path) is None


def test_publish_swaps_and_restores_on_failure(tmp_path, monkeypatch):
  staging, target = str(tmp_path / "t.tmp-1"), str(tmp_path / "t")
  _fake_export(staging, "new")
  _fake_export(target, "old")
  old_files = _files(target)
  rename = tf.io.gfile.rename

  def fail_into_place(src, dst, overwrite=False):
    if src == staging:
      raise OSError("rename failed")
    return rename(src, dst, overwrite)
  monkeypatch.setattr(tf.io.gfile, "rename", fail_into_place)
  with pytest.raises(OSError, match="rename failed"):
    export._publish(staging, target, overwrite=True)
  assert _files(target) == old_files  # The old export is back under its name.
  assert sorted(os.listdir(tmp_path)) == ["t", "t.tmp-1"]  # The caller removes its staging.
  monkeypatch.undo()
  new_files = _files(staging)
  export._publish(staging, target, overwrite=True)
  assert _files(target) == new_files and os.listdir(tmp_path) == ["t"]


def test_publish_rechecks_what_changed_during_the_export(tmp_path):
  staging, target = str(tmp_path / "t.tmp-1"), str(tmp_path / "t")
  _fake_export(staging, "new")
  os.mkdir(target)  # Empty when checked; then someone writes into it.
  with open(os.path.join(target, "results.csv"), "w") as f:
    f.write("mine")
  with pytest.raises(export.ExportDirError, match="results.csv.*nothing was replaced"):
    export._publish(staging, target, overwrite=True)
  assert _files(target) == {"results.csv": b"mine"}
  _fake_export(str(tmp_path / "u"), "old")  # An export appears where there was none ...
  with pytest.raises(export.ExportDirError, match="holds a previous export"):
    export._publish(staging, str(tmp_path / "u"), overwrite=False)  # ... and is kept.
  os.mkdir(tmp_path / "empty")
  export._publish(staging, str(tmp_path / "empty"), overwrite=False)
  assert export.not_an_export(str(tmp_path / "empty")) is None
