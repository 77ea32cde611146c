import math

import pytest
import torch

from advrec.config.optim import OptimizerConfig, ScheduleConfig
from advrec.errors import ConfigError
from advrec.runs.config import load_config
from advrec.train.optim import LRSchedule, build_optimizer


def _lrs(cfg: ScheduleConfig, epochs: int, metrics=None) -> list[float]:
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimizerConfig(lr=1.0))
    sched = LRSchedule(opt, cfg, epochs)
    out = []
    for e in range(epochs):
        sched.start_epoch(e)
        out.append(opt.param_groups[0]["lr"])
        sched.end_epoch(None if metrics is None else metrics[e])
    return out


def test_step_exponential_cosine_values():
    assert _lrs(ScheduleConfig(name="step", step_size=2, gamma=0.5), 5) == [1, 1, 0.5, 0.5, 0.25]
    assert _lrs(ScheduleConfig(name="exponential", gamma=0.5), 3) == [1, 0.5, 0.25]
    cos = _lrs(ScheduleConfig(name="cosine"), 4)
    assert cos == pytest.approx(
        [1, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4))]
    )


def test_warmup_combines_with_step():
    lrs = _lrs(ScheduleConfig(name="step", warmup_epochs=3, step_size=2, gamma=0.1), 7)
    assert lrs == pytest.approx([0.25, 0.5, 0.75, 1, 1, 0.1, 0.1])


def test_plateau_decays_after_patience():
    lrs = _lrs(ScheduleConfig(name="plateau", patience=1, gamma=0.5), 6, metrics=[1, 0.9, 0.9, 0.9, 0.9, 2])
    # best at epoch 0; epochs 1, 2 are bad -> after epoch 2 (2 > patience 1) scale halves
    assert lrs == [1, 1, 1, 0.5, 0.5, 0.25]


def test_schedule_state_round_trip():
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimizerConfig(lr=1.0))
    sched = LRSchedule(opt, ScheduleConfig(name="plateau", patience=0), 10)
    for m in [1.0, 0.5, 0.4]:
        sched.end_epoch(m)
    other = LRSchedule(opt, ScheduleConfig(name="plateau", patience=0), 10)
    other.load_state_dict(sched.state_dict())
    assert other.state_dict() == sched.state_dict() and other.plateau_scale == 0.25


@pytest.mark.parametrize("name", ["adam", "adamw", "adagrad", "sgd"])
def test_every_optimizer_steps(name):
    p = torch.nn.Parameter(torch.ones(3))
    opt = build_optimizer([p], OptimizerConfig(name=name, lr=0.1))
    (p**2).sum().backward()
    opt.step()
    assert (p < 1).all()


def test_unknown_key_lists_valid_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'train.epoch'.*epochs"):
        load_config(path)


def test_overrides_and_bad_values(tmp_path):
    cfg = load_config(None, ["train.epochs=7", "model.name=lightgcn", "eval.ks=[5,10]"])
    assert cfg.train.epochs == 7 and cfg.model.name == "lightgcn" and cfg.eval.ks == [5, 10]
    with pytest.raises(ConfigError, match="train.epochs"):
        load_config(None, ["train.epochs=-1"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["train.epochs"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)


def test_threads_must_be_non_negative():
    assert load_config(None, ["threads=1"]).threads == 1
    with pytest.raises(ConfigError, match="threads"):
        load_config(None, ["threads=-2"])
