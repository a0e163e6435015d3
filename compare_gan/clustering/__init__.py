"""Cluster labels: labels made by clustering a trained discriminator's features (the
"Clustering" rows of Lucic et al. 2019, "High-Fidelity Image Generation With Fewer Labels").

  kmeans.py   k-means++ seeding and Lloyd iterations (numpy), `assign` to the nearest centroid
  command.py  `compare_gan cluster`: a run's D features on its dataset -> k-means -> a label
              file (data/label_files.py) that `dataset.label_file` trains on

Importing this package imports neither TensorFlow nor numpy (the command line parses without
them); command.py imports what it needs when it runs.
"""
