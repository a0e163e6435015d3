"""Hyperparameter sweeps (DESIGN section 7).

  study.py      study files (gin): base configs, axes crossed into settings, search space and
                grid, objective, seeds; validated before any trial starts
  space.py      search-space dimensions (log_uniform, uniform, int_uniform, choice) and grids
  sweepers.py   grid, random (seeded) and gp (scikit-optimize) proposers, ask/tell, resumable
  store.py      study.db (SQLite, WAL): trials and their results
  executors.py  run one trial as a `compare_gan train` subprocess, locally or on Dask
  driver.py     the sweep loop behind `compare_gan sweep` (command.py)
"""
