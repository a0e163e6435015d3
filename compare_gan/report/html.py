"""The report's static page: `<report dir>/index.html` (DESIGN section 7).

One HTML file that needs no server, no network and no JavaScript: the style sheet is inline,
and the plots, galleries and data files that `compare_gan report` wrote beside the page are
linked relatively, so the page stays small and the report directory can be moved or archived
as a whole. Its sections: the study, the objective's protocol card, the best model per setting,
significance and intervals, re-runs, the top 5% plot, the budget and training curves, sample
galleries, every trial (with a link to its run directory), and the files written.

Nothing here computes a statistic: every number on the page is a cell of the report's tables
(compare_gan.report.tables, read from study.db), of the markdown the significance and re-run
writers return, or of a protocol card (study.db's results.protocol, else the run directory's
metrics.jsonl), formatted as in best_models.md. Numeric cells of the best-model table also
carry their exact value in `data-value`, for a reader (or a test) that checks the rounding.
Every string from study.db, a run directory or a writer's markdown is HTML-escaped.
"""

import dataclasses
import html
import json
import os
import pathlib
import re
import urllib.parse
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from compare_gan import run_dir as run_dir_lib
from compare_gan.metrics import results as results_lib  # protocol_key only: no TensorFlow.
from compare_gan.report import tables
from compare_gan.sweep import store as store_lib

INDEX = "index.html"


@dataclasses.dataclass
class ProtocolCard:
  """The protocol card of the reported metric's value for one trial at one step."""
  card: Optional[dict]  # None: neither study.db nor metrics.jsonl holds one
  trial: int
  step: int
  source: str  # where `card` was read: "study.db" or the path of a metrics.jsonl
  # Trial ids whose records of the metric in study.db carry another card (by
  # results.protocol_key: where the feature extractor's files lie does not count).
  differing: List[int] = dataclasses.field(default_factory=list)
  records: int = 0  # records of the metric in study.db that carry a card


@dataclasses.dataclass
class Block:
  """A section written by another report module: its markdown and the files it wrote."""
  title: str
  markdown: str
  files: List[str]


@dataclasses.dataclass
class Gallery:
  """A setting's best trial drawn by compare_gan.report.galleries, or why it is not."""
  setting: str  # the setting's name, "loss=ns, penalty=gp"
  trial: int
  step: Optional[int]
  grid: Optional[str] = None  # PNG paths
  strip: Optional[str] = None
  ema: Optional[bool] = None
  note: Optional[str] = None  # one line: why there is no gallery


@dataclasses.dataclass
class Page:
  """Everything index.html shows; `make_report` fills it from what it read and wrote."""
  workdir: str
  meta: Dict[str, str]  # study.db's meta table
  metric: str
  mode: str
  trials: pd.DataFrame  # tables.with_values
  best: pd.DataFrame  # tables.best_models
  protocol: Optional[ProtocolCard] = None
  blocks: List[Block] = dataclasses.field(default_factory=list)  # significance, re-runs
  top: Optional[str] = None  # PNG paths of compare_gan.report.plots; None: not drawn
  budget: Optional[str] = None
  budget_csv: Optional[str] = None
  curves: Optional[str] = None
  galleries: List[Gallery] = dataclasses.field(default_factory=list)
  galleries_wanted: bool = True  # False: --no_galleries or --no_plots
  plots_wanted: bool = True
  files: List[str] = dataclasses.field(default_factory=list)
  messages: List[str] = dataclasses.field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The protocol card.

def objective_card(trials: pd.DataFrame, results: pd.DataFrame, metric: str,
                   mode: str) -> Optional[ProtocolCard]:
  """The card of the best trial's `metric` record at its best step (None without a finished
  trial): from study.db's results.protocol, else from the newest record of that (step,
  metric) in the trial's metrics.jsonl (a study.db of a sweep that stored no card). Also
  which trials' records of `metric` in study.db carry a different card.

  Args:
    trials: `tables.with_values` of the report's (metric, mode).
    results: the results table of `tables.load` (its `protocol` column is JSON text).
  """
  done = trials["value"].dropna()
  if not len(done):
    return None
  best = trials.loc[tables.best_index(done, mode)]
  trial, step = int(best["id"]), int(best["value_step"])
  rows = results[(results["metric"] == metric) & results["protocol"].notna()]
  cards = {(int(r.trial_id), int(r.step)): json.loads(r.protocol)
           for r in rows.itertuples(index=False)}
  cards = {k: v for k, v in cards.items() if v is not None}  # JSON null: a record without one
  card, source = cards.get((trial, step)), store_lib.DATABASE
  if card is None:
    card, source = _card_from_run_dir(best["run_dir"], step, metric)
  out = ProtocolCard(card=card, trial=trial, step=step, source=source, records=len(cards))
  if card is not None:
    key = results_lib.protocol_key(card)
    out.differing = sorted({t for (t, _), c in cards.items()
                            if results_lib.protocol_key(c) != key})
  return out


def _card_from_run_dir(model_dir: str, step: int, metric: str) -> tuple:
  """(card, path of metrics.jsonl) of the newest record of (step, metric); (None, path) when
  there is none or the run directory is remote (reading it would need TensorFlow's gfile)."""
  path = os.path.join(str(model_dir), run_dir_lib.METRICS)
  if run_dir_lib.is_remote(model_dir):
    return None, path
  record = run_dir_lib.latest_metrics(run_dir_lib.read_metrics(model_dir)).get(step, {}).get(
      metric)
  return (record or {}).get("protocol"), path


# ---------------------------------------------------------------------------------------------
# Small HTML pieces.

def _e(value: Any) -> str:
  return html.escape(str(value), quote=True)


def _href(path: str, out_dir: str) -> str:
  """A relative URL from the page to `path` (a file the report wrote under `out_dir`)."""
  rel = os.path.relpath(os.path.abspath(path), os.path.abspath(out_dir))
  return urllib.parse.quote(rel.replace(os.sep, "/"))


def _under(path: str, root: str) -> Optional[str]:
  """`path` relative to `root` when it lies under it (both local), else None."""
  path, root = os.path.abspath(path), os.path.abspath(root)
  return os.path.relpath(path, root) if os.path.commonpath([path, root]) == root else None


def run_dir_href(run_dir: str, workdir: str, out_dir: str) -> Optional[str]:
  """The link from the page in `out_dir` to a trial's run directory: relative when it lies
  under `workdir` (the sweep directory moves as a whole), else an absolute file:// URL; None
  for a remote (gs://...) directory, which a browser cannot open."""
  if run_dir_lib.is_remote(run_dir):
    return None
  if _under(run_dir, workdir) is not None:
    return _href(run_dir, out_dir) + "/"
  return pathlib.Path(os.path.abspath(run_dir)).as_uri() + "/"


def _shown_path(run_dir: str, workdir: str) -> str:
  """A run directory as the trials table shows it: relative to the sweep directory when under
  it (trials/0012-...), else as stored."""
  inside = None if run_dir_lib.is_remote(run_dir) else _under(run_dir, workdir)
  return run_dir if inside is None else inside


def _link(text: str, href: Optional[str]) -> str:
  return f'<a href="{_e(href)}">{_e(text)}</a>' if href else _e(text)


def _figure(path: Optional[str], out_dir: str, alt: str, caption: str) -> str:
  """An image linked relatively, opening full size on a click; `caption` is HTML."""
  if not path:
    return ""
  href = _href(path, out_dir)
  return (f'<figure><a href="{_e(href)}"><img src="{_e(href)}" alt="{_e(alt)}"></a>'
          f"<figcaption>{caption}</figcaption></figure>")


def _data_value(value: Any) -> str:
  """The exact value of a numeric cell for its `data-value` attribute ('' when missing)."""
  if tables.is_missing(value) or isinstance(value, (bool, np.bool_, str)):
    return ""
  if isinstance(value, (int, np.integer)):
    return str(int(value))
  if isinstance(value, (float, np.floating)):
    return repr(float(value))
  return ""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool],
           table_id: str = "", row_ids: Optional[Sequence[str]] = None) -> str:
  """A table of already-escaped cells; `numeric` columns are right-aligned."""
  head = "".join(f'<th class="num">{h}</th>' if n else f"<th>{h}</th>"
                 for h, n in zip(header, numeric))
  body = []
  for i, row in enumerate(rows):
    rid = f' id="{_e(row_ids[i])}"' if row_ids else ""
    body.append(f"<tr{rid}>" + "".join(row) + "</tr>")
  tid = f' id="{_e(table_id)}"' if table_id else ""
  return (f'<div class="scroll"><table{tid}><thead><tr>{head}</tr></thead>'
          f'<tbody>{"".join(body)}</tbody></table></div>')


# ---------------------------------------------------------------------------------------------
# Markdown of the significance and re-run writers: headings, pipe tables, lists, paragraphs.

_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _inline(text: str) -> str:
  """Escaped text with `code` and **bold** spans."""
  out = _e(text)
  out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
  return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def _pipe_cells(line: str) -> List[str]:
  line = line.strip()
  line = line[1:] if line.startswith("|") else line
  line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
  return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


def markdown_to_html(text: str) -> str:
  """HTML of the markdown a report writer returns: '#' headings (one level below the page's
  section), pipe tables (with their ':' alignment), '-' / '*' lists and paragraphs. Every
  character of `text` is escaped; nothing else of markdown is interpreted."""
  out, lines, i = [], text.splitlines(), 0
  while i < len(lines):
    line = lines[i]
    stripped = line.strip()
    if not stripped:
      i += 1
    elif stripped.startswith("#"):
      level = min(6, len(stripped) - len(stripped.lstrip("#")) + 2)
      out.append(f"<h{level}>{_inline(stripped.lstrip('#').strip())}</h{level}>")
      i += 1
    elif stripped.startswith("|") and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1]):
      header = _pipe_cells(stripped)
      right = [c.strip().endswith(":") for c in _pipe_cells(lines[i + 1])]
      right += [False] * (len(header) - len(right))
      rows, i = [], i + 2
      while i < len(lines) and lines[i].strip().startswith("|"):
        cells = _pipe_cells(lines[i])
        rows.append([f'<td class="num">{_inline(c)}</td>' if r else f"<td>{_inline(c)}</td>"
                     for c, r in zip(cells, right)])
        i += 1
      out.append(_table([_inline(h) for h in header], rows, right))
    elif re.match(r"^[-*] ", stripped):
      items = []
      while i < len(lines) and re.match(r"^[-*] ", lines[i].strip()):
        items.append(f"<li>{_inline(lines[i].strip()[2:])}</li>")
        i += 1
      out.append(f"<ul>{''.join(items)}</ul>")
    else:
      para = []
      while (i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(("#", "|"))
             and not re.match(r"^[-*] ", lines[i].strip())):
        para.append(lines[i].strip())
        i += 1
      if not para:  # A '|' line that starts no table: show it as text.
        para, i = [stripped], i + 1
      out.append(f"<p>{_inline(' '.join(para))}</p>")
  return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Sections.

def _study_section(page: Page, out_dir: str) -> str:
  meta = page.meta
  db = os.path.join(page.workdir, store_lib.DATABASE)
  objective = (f"{meta.get('objective_metric', '')} ({meta.get('objective_mode', '')}, "
               f"reduced over steps by {meta.get('objective_reduce') or 'best'})")
  def fact(key: str) -> str:
    return _e(meta[key]) if meta.get(key) else "not recorded (an older study.db)"
  rows = [("study", fact("study_name")), ("study file", fact("study_path")),
          ("study id", fact("study_id")), ("created", fact("created")),
          ("sweep directory", _e(os.path.abspath(page.workdir))),
          ("database", _link(db, _href(db, out_dir))),
          ("objective", _e(objective))]
  if (page.metric, page.mode) != (meta.get("objective_metric"), meta.get("objective_mode")):
    rows.append(("this report", _e(f"{page.metric} ({page.mode}): each trial's best value over "
                                   "its evaluated steps in study.db's results table")))
  facts = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
  statuses = page.trials["status"].value_counts()
  names = list(store_lib.STATUSES) + sorted(set(statuses.index) - set(store_lib.STATUSES))
  counts = _table([_e(s) for s in names] + ["all"],
                  [[f'<td class="num">{int(statuses.get(s, 0))}</td>' for s in names]
                   + [f'<td class="num">{len(page.trials)}</td>']],
                  [True] * (len(names) + 1), table_id="status-counts")
  text = meta.get("study_text") or ""
  details = (f"<details><summary>The study as parsed (study.db)</summary><pre>{_e(text)}</pre>"
             "</details>" if text else "")
  return (f'<table class="facts">{facts}</table><h3>Trials by status</h3>{counts}{details}')


def _protocol_section(page: Page) -> str:
  card = page.protocol
  if card is None:
    return f"<p>No finished trial has a {_e(page.metric)} value yet.</p>"
  where = (f"trial {card.trial}, step {card.step}; read from "
           + ("study.db's results table" if card.source == store_lib.DATABASE else card.source))
  if card.card is None:
    return (f"<p>No protocol card is recorded for {_e(page.metric)} of the best trial "
            f"({_e(where)}): study.db and the run directory's metrics.jsonl hold none.</p>")
  if card.differing:
    agreement = (f'<p class="warn">Not every value is comparable: the records of '
                 f"{_e(page.metric)} of trials {_e(', '.join(map(str, card.differing)))} carry "
                 "another protocol card.</p>")
  else:
    agreement = (f"<p>Every record of {_e(page.metric)} in study.db that carries a card carries "
                 f"this one ({card.records} records).</p>")
  pretty = json.dumps(card.card, indent=2, sort_keys=True)
  return (f"<p>How the best trial's {_e(page.metric)} was measured ({_e(where)}):</p>"
          f'<pre class="card">{_e(pretty)}</pre>{agreement}')


def _best_section(page: Page) -> str:
  """best_models.csv as HTML: the cells formatted as in best_models.md, each numeric one with
  its exact value in data-value; the trial links to its row of the trials table."""
  best, metric = page.best, page.metric
  if best.empty:
    return "<p>No trial in study.db yet.</p>"
  metric_columns = {metric, f"median_{metric}"}
  columns = list(best.columns)
  numeric = [all(isinstance(v, (int, float, np.number)) or tables.is_missing(v)
                 for v in best[c].tolist()) for c in columns]
  rows = []
  for values in zip(*(best[c].tolist() for c in columns)):  # Per column: ints stay ints.
    cells = []
    for column, value, num in zip(columns, values, numeric):
      text = (tables.format_metric(value) if column in metric_columns
              else tables.format_cell(value))
      content = _e(text)
      if column == "trial" and text:
        content = f'<a href="#trial-{_e(text)}">{content}</a>'
      if num:
        cells.append(f'<td class="num" data-value="{_e(_data_value(value))}">{content}</td>')
      else:
        cells.append(f"<td>{content}</td>")
    rows.append(cells)
  return (f"<p>The best trial of each setting by {_e(metric)} "
          f"({tables.better_text(page.mode)}), with its step, seed and parameters, the trials "
          "counted per status, and the median of the done trials; best setting first.</p>"
          + _table([_e(c) for c in columns], rows, numeric, table_id="best-models"))


def _blocks_section(block: Block, out_dir: str) -> str:
  figures = "".join(_figure(f, out_dir, block.title, _e(os.path.basename(f)))
                    for f in block.files if f.endswith(".png"))
  links = [f for f in block.files if not f.endswith(".png")]
  files = ("<p>Files: " + ", ".join(_link(os.path.basename(f), _href(f, out_dir)) for f in links)
           + "</p>") if links else ""
  return markdown_to_html(block.markdown) + figures + files


def _plots_section(page: Page, out_dir: str, path: Optional[str], alt: str, caption: str,
                   missing: str) -> str:
  if not page.plots_wanted:
    return "<p>Not drawn (--no_plots).</p>"
  if not path:
    return f"<p>{_e(missing)}</p>"
  return _figure(path, out_dir, alt, caption)


def _galleries_section(page: Page, out_dir: str) -> str:
  if not page.galleries_wanted:
    return ("<p>Not drawn (" + ("--no_galleries" if page.plots_wanted else "--no_plots")
            + ").</p>")
  if not page.galleries:
    return "<p>No setting has a finished trial to draw.</p>"
  parts = []
  for g in page.galleries:
    head = (f"<h3>{_e(g.setting)}: trial <a href=\"#trial-{g.trial}\">{g.trial}</a>"
            + (f", step {g.step}" if g.step is not None else "")
            + ("" if g.ema is None else (", EMA weights" if g.ema else ", raw weights"))
            + "</h3>")
    if g.note:
      parts.append(f'{head}<p class="warn">{_e(g.note)}</p>')
      continue
    parts.append(head + _figure(g.grid, out_dir, f"samples of trial {g.trial}", "samples")
                 + _figure(g.strip, out_dir, f"interpolation of trial {g.trial}",
                           "interpolations between latent vectors"))
  return "".join(parts)


def _trials_section(page: Page, out_dir: str) -> str:
  t, metric = page.trials, page.metric
  header = ["id", "setting", "status", metric, "step", "seed", "source", "parameters",
            "seconds", "attempts", "host", "run directory", "error"]
  numeric = [True, False, False, True, True, True, False, False, True, True, False, False,
             False]
  rows, ids = [], []
  for r in t.itertuples(index=False):
    params = tables.params_text(r.params)
    texts = [str(int(r.id)), tables.setting_name(r.labels), r.status,
             tables.format_metric(r.value), tables.format_cell(r.value_step),
             tables.format_cell(r.seed), r.source, params, tables.format_cell(r.seconds),
             tables.format_cell(r.attempts), "" if tables.is_missing(r.host) else r.host]
    classes = ["num" if n else "" for n in numeric]
    classes[2] = f"st-{r.status}"
    row = [f'<td class="{_e(c)}">{_e(text)}</td>' if c else f"<td>{_e(text)}</td>"
           for text, c in zip(texts, classes)]
    href = run_dir_href(r.run_dir, page.workdir, out_dir)
    row.append(f'<td class="path" title="{_e(r.run_dir)}">'
               f"{_link(_shown_path(r.run_dir, page.workdir), href)}</td>")
    row.append(f'<td>{"" if tables.is_missing(r.error) else _e(r.error)}</td>')
    rows.append(row)
    ids.append(f"trial-{int(r.id)}")
  return (f"<p>Every trial in study.db; {_e(metric)} and its step are the values the report "
          "ranks (empty for trials that are not done). Run directories under the sweep "
          "directory are linked relatively, others by their absolute path.</p>"
          + _table([_e(h) for h in header], rows, numeric, table_id="trials", row_ids=ids))


def _files_section(page: Page, out_dir: str) -> str:
  items = "".join(f"<li>{_link(_href(f, out_dir), _href(f, out_dir))}</li>" for f in page.files)
  return f"<ul class=\"files\">{items}</ul>"


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1d1d1f; background: #ffffff; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 1.6em; margin: 0.4em 0; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin-top: 1.8em; }
nav { display: flex; flex-wrap: wrap; gap: 0.2em 1em; }
nav a { white-space: nowrap; }
table { border-collapse: collapse; font-size: 0.88em; }
th, td { border: 1px solid #d0d7de; padding: 3px 7px; text-align: left; vertical-align: top; }
thead th { background: #f3f5f7; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
table.facts th { background: #f3f5f7; width: 11em; }
.scroll { overflow-x: auto; margin: 0.6em 0; }
tbody tr:nth-child(even) { background: #fafbfc; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: 10px; overflow-x: auto;
      font-size: 0.85em; }
figure { margin: 0.8em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e7eb; }
figcaption { font-size: 0.85em; color: #57606a; }
.warn { color: #9a3412; }
.path { font-family: ui-monospace, monospace; font-size: 0.85em; word-break: break-all; }
.st-done { color: #166534; } .st-failed, .st-diverged { color: #b91c1c; }
.st-pending, .st-running { color: #57606a; }
"""


def render(page: Page, out_dir: str) -> str:
  """The HTML text of index.html for a page written into `out_dir` (links are relative to
  it)."""
  name = page.meta.get("study_name") or os.path.basename(os.path.abspath(page.workdir))
  metric = page.metric
  sections = [("study", "Study", _study_section(page, out_dir)),
              ("protocol", f"Protocol card of {metric}", _protocol_section(page)),
              ("best", f"Best model per setting by {metric}", _best_section(page))]
  for block in page.blocks:
    anchor = re.sub(r"[^a-z0-9]+", "-", block.title.lower()).strip("-")
    sections.append((anchor, block.title, _blocks_section(block, out_dir)))
  sections += [
      ("top", "Best 5% of trials per setting", _plots_section(
          page, out_dir, page.top, f"top 5% of {metric}",
          "The best 5% of each setting's done trials (at least one): box and points.",
          f"No done trial with a {metric} value: nothing to draw.")),
      ("budget", f"{metric} vs computational budget", _plots_section(
          page, out_dir, page.budget, f"expected best {metric} after k trials",
          "The expected best value after k trials per setting (exact, from the order "
          "statistics of its done trials), with the 95% band of random k-subsets.",
          f"No done trial with a {metric} value: nothing to draw.")
       + (f"<p>Data: {_link(os.path.basename(page.budget_csv), _href(page.budget_csv, out_dir))}"
          "</p>" if page.budget_csv else "")),
      ("curves", f"{metric} during training", _plots_section(
          page, out_dir, page.curves, f"{metric} during training",
          "Each trial's evaluated checkpoints; the setting's best trial in red, failed or "
          "diverged trials dashed.", f"No {metric} records in study.db: nothing to draw.")),
      ("galleries", "Samples of the best trial per setting", _galleries_section(page, out_dir)),
      ("trials", "Trials", _trials_section(page, out_dir)),
  ]
  if page.messages:
    sections.append(("notes", "Notes", "<ul>" + "".join(f"<li>{_e(m)}</li>"
                                                          for m in page.messages) + "</ul>"))
  sections.append(("files", "Files of this report", _files_section(page, out_dir)))
  nav = "".join(f'<a href="#{a}">{_e(title)}</a>' for a, title, _ in sections)
  body = "".join(f'<section id="{a}"><h2>{_e(title)}</h2>{content}</section>'
                 for a, title, content in sections)
  return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          '<meta name="viewport" content="width=device-width, initial-scale=1">'
          f"<title>{_e(name)}: compare_gan report</title><style>{_STYLE}</style></head>"
          f"<body><main><h1>{_e(name)}</h1><nav>{nav}</nav>{body}</main></body></html>\n")


def write(page: Page, out_dir: str) -> str:
  """Writes `<out_dir>/index.html` atomically (a browser open on it never sees half a page)
  and returns its path."""
  path = os.path.join(out_dir, INDEX)
  run_dir_lib.write_atomically(path, render(page, out_dir))
  return path
