"""Evaluation: scores of masks, intervals over source cells, per-cell errors, paired comparisons."""
