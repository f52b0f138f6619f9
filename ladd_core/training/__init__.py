"""Training engine: optimiser, EMA, checkpoints, the loop, and loading runs."""
