"""The 2015-12-05 Inception network that FID, KID and IS are defined on.

  extractor.py  the running network: image checks, TF1-exact preprocessing, `InceptionExtractor`.
  weights.py    finding, downloading and fingerprinting the weights, the loaders of each format,
                and `load_inception` (gin name `inception`).

Nothing is re-exported here: import the submodule you use. Importing weights.py registers the gin
configurable `inception` (`inception.weights`, `inception.quantize`, ...).
"""
