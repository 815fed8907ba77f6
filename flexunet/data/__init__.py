"""Data: image I/O, image-mask pairing, batches and online augmentation."""
