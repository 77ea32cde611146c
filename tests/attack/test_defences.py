import numpy as np
import pytest

from advrec.data.split import Split
from advrec.defend.defences import DEFENCES, build_defence
from advrec.errors import ConfigError
from advrec.experiments.poisoning import poison_config
from advrec.runs.config import parse_config


def test_registry_and_victim_configs():
    assert set(DEFENCES.names()) == {"none", "apr", "vat", "pamacf", "filter", "filter+apr", "text-filter"}
    victim = parse_config({"model": {"dim": 8}})
    assert build_defence("none").victim_config(victim) == victim
    apr = build_defence("apr").victim_config(victim)
    assert apr.adversary.name == "apr" and apr.adversary.eps == 0.5 and apr.model == victim.model
    with pytest.raises(
        ConfigError,
        match="unknown defence 'nope'; valid: apr, filter, filter\\+apr, none, pamacf, text-filter, vat",
    ):
        build_defence("nope")
    assert build_defence("filter+apr").detector.name == "simulated"  # the filters' default detector
    settings = DEFENCES.validate({"name": "apr", "adversary": {"eps": 0.25, "start_after_plateau": 3}})
    tuned = build_defence(settings).victim_config(victim)
    assert (tuned.adversary.eps, tuned.adversary.start_after_plateau) == (0.25, 3)
    with pytest.raises(ValueError, match="unknown key|Extra inputs"):
        DEFENCES.validate({"name": "apr", "detector": "pca"})


def test_filter_drops_the_flagged_users_training_rows(synthetic_split):
    split = synthetic_split
    flagged_users = [0, 5]

    def detector(train):
        mask = np.zeros(train.n_users, dtype=bool)
        mask[flagged_users] = True
        return mask

    defence = build_defence("filter+apr", detector=detector)
    kept, report = defence.train_split(split)
    assert isinstance(kept, Split) and kept.valid is split.valid and kept.test is split.test
    assert not np.isin(kept.train.users, flagged_users).any()
    dropped = int(np.isin(split.train.users, flagged_users).sum())
    ids = split.train.user_map.raw[flagged_users].tolist()
    assert report == {"flagged_users": 2, "dropped_interactions": dropped, "flagged_ids": ids}
    assert len(kept.train) == len(split.train) - dropped
    assert defence.victim_config(parse_config({})).adversary.name == "apr"


def test_filter_rejects_a_mask_of_the_wrong_length(synthetic_split):
    defence = build_defence("filter", detector=lambda train: np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match="flags"):
        defence.train_split(synthetic_split)


def test_personalised_defences_train_the_victim_with_their_adversary():
    victim = parse_config({"model": {"dim": 8}, "train": {"patience": 4}})
    for name, eps in (("vat", 0.6), ("pamacf", 0.9)):
        defence = build_defence(name)
        assert defence.adversarial and defence.detector is None
        adversary = defence.victim_config(victim).adversary
        assert (adversary.name, adversary.eps, adversary.lam, adversary.start_after_plateau) == (
            name,
            eps,
            2.0,
            4,
        )
    # a partial adversary section (--defence-set, a study's poison step) keeps the defence's plateau
    for name in ("apr", "filter+apr", "vat", "pamacf"):
        settings = DEFENCES.validate({"name": name, "adversary": {"eps": 0.25}})
        assert (settings.adversary.eps, settings.adversary.start_after_plateau) == (0.25, 10)
    raw = {
        "attack": "random",
        "targets": "random:2",
        "defence": {"name": "vat", "adversary": {"user_loss": "sum"}},
    }
    settings = poison_config(raw, "study.yaml: step poison")
    assert settings.defence.adversary.user_loss == "sum" and settings.defence.adversary.lam == 2.0
    with pytest.raises(ConfigError, match="study.yaml: step poison.*defence.adversary.lam"):
        poison_config(
            {**raw, "defence": {"name": "pamacf", "adversary": {"lam": -1}}}, "study.yaml: step poison"
        )
