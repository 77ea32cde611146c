"""Data: loaders, interactions with id maps, splits, negative sampling and graphs."""

from advrec.data.interactions import IdMap, Interactions, RawInteractions

__all__ = ["IdMap", "Interactions", "RawInteractions"]
