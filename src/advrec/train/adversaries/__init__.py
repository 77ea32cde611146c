"""Adversarial training methods as trainer hooks: APR/AMR (perturbations of embedding tables) and
SimGCL/XSimGCL (noisy propagations as contrastive views)."""
