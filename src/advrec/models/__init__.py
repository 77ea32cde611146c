"""Recommenders: nn.Modules that only score, each with its settings, registered in ``registry.MODELS``."""
