"""Defences against poisoning: fake-profile detectors and their features, the filter defences, and the
registry of defences (filtering, robust training) that the poisoning experiment applies."""
