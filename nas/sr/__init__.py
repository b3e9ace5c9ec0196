"""The SR protocol layer: LR making, image sources, metrics, evaluation and checkpoints (no Optuna, no Ray)."""
