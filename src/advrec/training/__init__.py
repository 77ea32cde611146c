"""The one training loop, its objectives, optimizers, schedules and checkpoints."""
