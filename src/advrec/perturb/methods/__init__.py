"""Perturbation methods: how a bounded Δ per embedding row is built from gradients of the objective. One
module per method, each registering itself in ``advrec.perturb.methods.registry.PERTURBATIONS``; APR's
``adversary.method`` and the robustness probe's ``--attack`` name them."""
