"""Objectives turn a batch into a loss: pure pair losses, the pairwise (BPR/BCE) objective, and the sequential
next-item objective. Training minimises them; adversaries and the robustness probe perturb them."""
