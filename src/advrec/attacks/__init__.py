"""Data poisoning: target selection, fake-profile generators, injection into TRAIN, the attack
experiment and its defences (see ``experiment`` for the run folder)."""
