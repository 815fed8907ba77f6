"""Inference: predictors and TTA, masks and their clean-up, tiling, per-cell measurements, export."""
