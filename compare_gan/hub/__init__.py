"""TF Hub: export of a run's generator (export.py), loading of any GAN module (modules.py),
sample grids and PNGs (sampling.py), and the export/sample commands (command.py)."""
