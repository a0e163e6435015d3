"""Training: the step loop, checkpoints, strategies and summaries. Never imports metrics/, hub/
or the runner."""
