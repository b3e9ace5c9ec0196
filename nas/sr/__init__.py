"""The SR protocol layer: LR making, image sources, metrics, evaluation and weight files (no Optuna, no Ray)."""
