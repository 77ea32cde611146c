"""Attacks on recommenders: target selection, fake-profile generators, injection into TRAIN, and the
text-side attack on item texts."""
