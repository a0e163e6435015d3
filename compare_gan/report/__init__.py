"""`compare_gan report`: tables and plots of a sweep's study.db (DESIGN section 7).

  tables.py   read study.db (read-only), best model per setting (markdown, CSV, LaTeX),
              every trial (CSV), the expected best objective after k trials
  plots.py    top-5% box plots, objective-vs-budget curves, per-trial training curves (PNG)
  command.py  the `report` subcommand

study.db's tables, columns and stored objective are compare_gan.sweep.store's; the report
reads them from there and never writes the database.
"""
