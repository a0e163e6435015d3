"""Hyperparameter sweeps (DESIGN section 7).

  study.py       the study model: settings, objective, the bindings and name of each trial
  study_file.py  study files (gin): base configs, axes crossed into settings, search space and
                 grid, objective, seeds; validated before any trial starts
  space.py       search-space dimensions (log_uniform, uniform, int_uniform, choice) and grids
  sweepers.py    grid, random (seeded) and gp (scikit-optimize) proposers, ask/tell, resumable
  store.py       study.db (SQLite, WAL): trials and their results; owns its schema
  executors.py   run one trial as a `compare_gan train` subprocess, locally or on Dask, in a
                 run directory it claims first (trial.json: study id, config fingerprint)
  reruns.py      study.reruns: which best points of a setting to train again, with new seeds
  summary.py     the driver's end-of-sweep tables (best per setting; the reruns' seed spread)
  hparams.py     the TensorBoard HParams view of a sweep: experiment and one session per trial
  driver.py      the sweep loop behind `compare_gan sweep` (command.py)

Imports run one way (A <- B: B imports A): space <- study <- sweepers <- study_file, and
study <- store; space, study <- reruns <- summary (and store <- summary); space, store,
study <- hparams (TensorBoard's protobufs, no TensorFlow); executors, hparams, reruns, store,
study_file, summary and sweepers <- driver <- command. Run-directory files, timestamps
and exit codes come from compare_gan.run_dir. Nothing here imports compare_gan.cli;
TensorFlow is imported only to check a study's trial configs (study_file, through
compare_gan.config) and for remote (gs://) run directories.
"""
