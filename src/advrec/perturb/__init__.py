"""Bounded perturbations of embedding tables: row norms and projections, the FGSM/PGD/random builders,
and gradients of an objective with respect to the tables. Used by adversarial training and by the
robustness probe."""
