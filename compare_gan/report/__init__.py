"""`compare_gan report`: tables, plots and a static HTML page of a sweep (DESIGN section 7).

  tables.py        read study.db (read-only), best model per setting (markdown, CSV, LaTeX),
                   every trial (CSV), the expected best objective after k trials
  plots.py         top-5% box plots, objective-vs-budget curves, per-trial training curves (PNG)
  best_of_k.py     P(one setting's best of k trials beats another's), its bootstrap interval,
                   a permutation test, and bootstrap intervals of each setting's best and median
  significance.py  best_of_k's statistics as markdown, CSV and LaTeX tables and a heat map
  reruns.py        the seed spread of the points a sweep re-ran with new seeds
  galleries.py     sample grids and latent interpolations of a trained trial (TensorFlow)
  html.py          one static index.html with all of the above
  command.py       the `report` subcommand

study.db's tables, columns and stored objective are compare_gan.sweep.store's; the report
reads them from there and never writes the database.
"""
