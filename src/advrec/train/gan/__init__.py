"""GAN-based recommenders (CFGAN, IRGAN): losses, players, and the game the trainer runs as its procedure.

Modules: ``losses`` (pure GAN losses from logits), ``players`` (optimizer + schedule + guarded update),
``game`` (phases, D:G ratio, monitors, checkpointable state), ``cfgan``, ``irgan``, ``nets`` (the
players' networks), ``monitor`` (stability signals), ``plot`` (gan.png), ``builder`` (config -> objects).
"""
