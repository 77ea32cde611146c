import numpy as np
import pytest

from advrec.data.split import Split
from advrec.defend.defences import DEFENCES, build_defence
from advrec.errors import ConfigError
from advrec.runs.config import parse_config


def test_registry_and_victim_configs():
    assert set(DEFENCES.names()) == {"none", "apr", "filter", "filter+apr"}
    victim = parse_config({"model": {"dim": 8}})
    assert build_defence("none").victim_config(victim) == victim
    apr = build_defence("apr").victim_config(victim)
    assert apr.adversary.name == "apr" and apr.adversary.eps == 0.5 and apr.model == victim.model
    with pytest.raises(ConfigError, match="unknown defence 'nope'; valid: apr, filter, filter\\+apr, none"):
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
