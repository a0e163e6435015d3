"""compare_gan: train, sweep and score many GANs under one protocol on TensorFlow 2."""

import os

# TensorFlow turns its oneDNN CPU kernels on only for CPUs with AVX512-VNNI/BF16 or AMX. On
# other x86 CPUs its default Eigen kernels ran SNDCGAN's training step at 18 % of the matmul
# peak, oneDNN at 74 % (docs/benchmarks.md). TF reads the variable when it is first imported,
# so this works whenever compare_gan is imported before tensorflow (the CLI always is);
# TF_ENABLE_ONEDNN_OPTS=0 in the environment restores TensorFlow's default.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "4.0.0.dev0"
