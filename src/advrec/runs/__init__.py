"""One run folder: config -> split -> model -> trainer -> test read once; reload, re-evaluate, probe.

Run folder layout::

    config.yaml          the resolved config (every default written out)
    split/               train.tsv, valid.tsv, test.tsv with original ids (reused exactly on resume);
                         with data.item_features also item_features.npy + item_features.ids.txt, the
                         feature rows of the split's items (so evaluate/resume need no --data-root)
    metrics.jsonl        one line per epoch: loss, lr, valid metrics, timings
    checkpoints/         last.pt (everything needed to resume), best.pt (best model by valid metric)
    results.json         test metrics (read once, at the best epoch; null with --no-test until
                         ``advrec evaluate`` reads them), valid metrics, timing
                         (+ ``robustness`` after ``advrec evaluate --attack``: see robustness_run)
    robustness/          after ``advrec evaluate --attack``: <attack>.csv (the ε curve with its random
                         control) per attack probed, curves.png (every attack probed so far)
    robustness_<tables>/ the same for a probe of chosen tables (``--targets item_features``), whose
                         results.json entry is ``robustness_<tables>``
    gan.png              GAN runs: D(real), D(fake), both losses, the mode-collapse signal per epoch
"""
