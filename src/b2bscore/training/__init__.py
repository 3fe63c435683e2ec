"""Training jobs: labels, splits, models, evaluation and the model registry."""
