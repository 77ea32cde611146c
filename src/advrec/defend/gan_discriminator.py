"""The GAN attack's discriminator as a detector: it learned to tell generated profiles from real ones."""

from __future__ import annotations

from advrec.attack.gan_attack import AushNets, discriminator_scores


def discriminator_detector(nets: AushNets, *, n_flag: int | None = None, threshold: float | None = None):
    """The attack GAN's discriminator as an ``advrec.defend`` detector (unsupervised: already trained).
    Flags the top ``n_flag`` scores or the scores >= ``threshold`` (0 = the discriminator's 50/50 line)."""
    from advrec.defend.detectors import ScorerDetector

    return ScorerDetector(
        lambda m: discriminator_scores(nets, m), name="gan-d", threshold=threshold, n_flag=n_flag
    )
