"""compare_gan: train, sweep and score many GANs under one protocol on TensorFlow 2."""

__version__ = "4.0.0.dev0"
