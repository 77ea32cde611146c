"""The command line, a thin layer over the library: ``advrec train | evaluate | attack | detect | study |
report | demo | download``."""
