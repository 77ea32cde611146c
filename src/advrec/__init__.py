"""advrec: adversarial training, attacks, defences and honest evaluation for recommender systems."""

__version__ = "0.1.0"
