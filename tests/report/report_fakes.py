"""What the report tests share: a stand-in for a parsed study (compare_gan.sweep.study.Study)
with what the store records of one (tests/report/: pytest puts it on sys.path)."""

import types


def fake_study(name: str, metric: str = "swd_pixels", mode: str = "min", reduce: str = "best",
               **fields) -> types.SimpleNamespace:
  """A study named `name` (text "study.name = '<name>'", path /studies/<name>.gin) with the
  objective (metric, mode, reduce); `fields` add attributes or replace these."""
  attributes = dict(name=name, text=f"study.name = {name!r}\n", path=f"/studies/{name}.gin",
                    objective=types.SimpleNamespace(metric=metric, mode=mode, reduce=reduce))
  attributes.update(fields)
  return types.SimpleNamespace(**attributes)
