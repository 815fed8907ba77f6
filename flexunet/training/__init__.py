"""Training: the train command, its callbacks, the choice of threshold and clean-up, distribution."""
