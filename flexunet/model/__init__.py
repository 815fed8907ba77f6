"""Model: the UNet builder, losses and metrics, compiling, and trained models on disk."""
