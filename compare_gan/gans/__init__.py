"""GAN objectives: losses and penalties (and, with the training runtime, the step)."""
