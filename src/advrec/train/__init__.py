"""How a model is trained: the one trainer (epoch loop, selection, checkpoints, resume), its procedures
(pairwise, sequential, GAN games), adversaries (APR, AMR, SimGCL) as hooks, optimizers and schedules."""
