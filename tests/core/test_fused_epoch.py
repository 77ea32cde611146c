"""The whole-epoch BPR-MF kernel: its sampling, its SGD/SparseAdam updates against torch, runs and config."""

import json
import types

import numpy as np
import pytest
import torch

from advrec.config.optim import OptimizerConfig
from advrec.errors import ConfigError
from advrec.models.mf import MF
from advrec.models.neumf import NeuMF
from advrec.objectives.pairwise import build_objective
from advrec.runs.config import parse_config
from advrec.runs.train import train_run
from advrec.train import fused_epoch
from advrec.train.checkpoint import load_checkpoint
from advrec.train.config import TrainConfig
from advrec.train.fused_epoch import FusedEpochBPRMF, _compiled, build_fused_epoch
from advrec.train.optim import build_optimizer

CPU = torch.device("cpu")
pytestmark = pytest.mark.skipif(_compiled() is None, reason="numba is not installed")


def _train_pairs(n_users=6, n_items=12, seed=0):
    """Random training pairs; user 0 has all items but one, so its negatives must be rejected often."""
    rng = np.random.default_rng(seed)
    users, items = [0] * (n_items - 1), list(range(1, n_items))
    for u in range(1, n_users):
        chosen = rng.choice(n_items, size=int(rng.integers(1, n_items // 2)), replace=False)
        users += [u] * len(chosen)
        items += chosen.tolist()
    users += [2, 2]  # a duplicated pair: it is two training rows
    items += [items[users.index(2)]] * 2
    return np.array(users), np.array(items)


def _runner(model, optimizer, users, items, n_neg=1, l2=0.0, batch_size=16):
    sampler = types.SimpleNamespace(users=users, items=items, n_negatives=n_neg)
    return FusedEpochBPRMF(model, l2, optimizer, sampler, batch_size, _compiled())


def _mf(seed=0, n_users=6, n_items=12):
    return MF(n_users, n_items, dim=5, init_std=0.5, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("n_neg", [1, 3])
@pytest.mark.parametrize("membership", ["bitset", "binary search"])
def test_sampling_covers_every_pair_and_never_a_positive(n_neg, membership, monkeypatch):
    if membership == "binary search":  # the fallback for catalogues too large for a bitset
        monkeypatch.setattr(fused_epoch, "BITSET_LIMIT", 0)
    users, items = _train_pairs()
    model = _mf()
    runner = _runner(model, torch.optim.SGD(model.parameters(), lr=0.1), users, items, n_neg)
    positives = set(zip(users.tolist(), items.tolist()))
    for seed in range(5):
        u, pos, neg = runner.sample(seed)
        assert sorted(zip(u.tolist(), pos.tolist())) == sorted(zip(users.tolist(), items.tolist()))
        assert neg.shape == (len(users), n_neg)
        assert ((neg >= 0) & (neg < 12)).all()
        assert not any((a, b) in positives for a, row in zip(u.tolist(), neg.tolist()) for b in row)
        assert (neg[u == 0] == 0).all()  # user 0's only non-positive


def test_bitset_and_binary_search_draw_the_same_epoch(monkeypatch):
    users, items = _train_pairs(n_users=9, n_items=70)  # bits span several 64-bit words
    model = _mf(n_users=9, n_items=70)
    with_bits = _runner(model, torch.optim.SGD(model.parameters(), lr=0.1), users, items, 2)
    monkeypatch.setattr(fused_epoch, "BITSET_LIMIT", 0)
    searched = _runner(model, torch.optim.SGD(model.parameters(), lr=0.1), users, items, 2)
    assert with_bits._bits.size > 1 and searched._bits.size == 0
    assert all(np.array_equal(a, b) for a, b in zip(with_bits.sample(3), searched.sample(3)))


def test_same_seed_same_epoch_other_seed_other_epoch():
    users, items = _train_pairs()
    model = _mf()
    runner = _runner(model, torch.optim.SGD(model.parameters(), lr=0.1), users, items, 2)
    one, two, other = runner.sample(7), runner.sample(7), runner.sample(8)
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
    assert not all(np.array_equal(a, b) for a, b in zip(one, other))


def _triples(seed=1, rows=40, n_neg=1):
    gen = torch.Generator().manual_seed(seed)
    # many rows over few users/items: repeated rows within a batch must accumulate, then update once
    return (
        torch.randint(0, 6, (rows,), generator=gen).numpy(),
        torch.randint(0, 12, (rows,), generator=gen).numpy(),
        torch.randint(0, 12, (rows, n_neg), generator=gen).numpy(),
    )


def _reference(model, opt, triples, batch_size, l2, sparse):
    """torch's own optimizer on autograd gradients, batch by batch; SparseAdam gets the touched rows."""
    objective = build_objective("bpr", l2)
    users, pos, neg = (torch.from_numpy(a) for a in triples)
    total = 0.0
    for lo in range(0, len(users), batch_size):
        batch = {"users": users[lo : lo + batch_size], "pos": pos[lo : lo + batch_size]}
        batch["neg"] = neg[lo : lo + batch_size]
        opt.zero_grad(set_to_none=True)
        loss = objective(model, batch)
        loss.backward()
        total += float(loss.detach()) * len(batch["users"])
        if sparse:
            rows_of = {
                model.user_embedding.weight: batch["users"],
                model.item_embedding.weight: torch.cat([batch["pos"], batch["neg"].reshape(-1)]),
            }
            for w, rows in rows_of.items():
                rows = torch.unique(rows)
                w.grad = torch.sparse_coo_tensor(rows[None], w.grad[rows], w.shape, check_invariants=True)
        opt.step()
    return total / len(users)


@pytest.mark.parametrize("name", ["sparse_adam", "sgd"])
@pytest.mark.parametrize("n_neg", [1, 3])
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_updates_match_torch_optimizers(name, n_neg, l2):
    triples = _triples(n_neg=n_neg)
    models, opts = [], []
    for _ in range(2):
        model = _mf(seed=3)
        models.append(model)
        if name == "sparse_adam":
            opts.append(torch.optim.SparseAdam(list(model.parameters()), lr=0.05))
        else:
            opts.append(torch.optim.SGD(model.parameters(), lr=0.5))
    start = models[0].item_embedding.weight.detach().clone()
    users, items = _train_pairs()
    runner = _runner(models[0], opts[0], users, items, n_neg, l2, batch_size=16)
    for _ in range(2):  # two epochs of 3 batches (16, 16, 8 rows): moments and step carry over
        loss = runner.train(*triples)
        want = _reference(models[1], opts[1], triples, 16, l2, sparse=name == "sparse_adam")
        assert loss == pytest.approx(want, rel=1e-5)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    if name == "sparse_adam":
        got, ref = opts[0].state_dict()["state"], opts[1].state_dict()["state"]
        for k in got:
            assert got[k]["step"] == ref[k]["step"] == 6
            torch.testing.assert_close(got[k]["exp_avg"], ref[k]["exp_avg"], rtol=1e-5, atol=1e-7)
            torch.testing.assert_close(got[k]["exp_avg_sq"], ref[k]["exp_avg_sq"], rtol=1e-5, atol=1e-9)
    untouched = sorted(set(range(12)) - set(triples[1].tolist()) - set(triples[2].ravel().tolist()))
    if untouched:  # rows no batch touched keep their values
        assert torch.equal(models[0].item_embedding.weight[untouched], start[untouched])
    assert not torch.equal(models[0].item_embedding.weight, start)


def test_one_step_lowers_the_batch_loss():
    users, items = _train_pairs()
    model = _mf()
    opt = torch.optim.SparseAdam(list(model.parameters()), lr=0.05)
    runner = _runner(model, opt, users, items, batch_size=len(users))  # one batch: one step
    triples = runner.sample(0)
    batch = dict(zip(["users", "pos", "neg"], (torch.from_numpy(a) for a in triples)))
    objective = build_objective("bpr", 0.0)
    with torch.no_grad():
        before = float(objective(model, batch))
    reported = runner.train(*triples)
    assert reported == pytest.approx(before, rel=1e-5)  # the loss at the batch's starting parameters
    with torch.no_grad():
        assert float(objective(model, batch)) < before
    assert opt.state_dict()["state"][0]["step"] == 1


def test_learning_rate_is_read_at_each_call():
    users, items = _train_pairs()
    model = _mf()
    opt = torch.optim.SparseAdam(list(model.parameters()), lr=0.05)
    runner = _runner(model, opt, users, items)
    before = [p.detach().clone() for p in model.parameters()]
    opt.param_groups[0]["lr"] = 0.0  # as a schedule would set it for the epoch
    runner.train(*runner.sample(0))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    opt.param_groups[0]["lr"] = 0.05
    runner.train(*runner.sample(1))
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def _build(model=None, optimizer="sparse_adam", kernel="auto", **train):
    model = model or _mf()
    cfg = TrainConfig(kernel=kernel, optimizer={"name": optimizer, "lr": 0.01}, **train)
    opt = build_optimizer(model.parameters(), cfg.optimizer)
    users, items = _train_pairs()
    sampler = types.SimpleNamespace(users=users, items=items, n_negatives=1, drop_fraction=0, add_fraction=0)
    return build_fused_epoch(cfg, model, build_objective("bpr", 0.0), opt, sampler, [], False, CPU)


def test_where_it_applies_and_config_errors():
    assert isinstance(_build(), FusedEpochBPRMF)  # auto + sparse_adam: the only path that runs SparseAdam
    assert isinstance(_build(optimizer="sgd", kernel="fused_epoch"), FusedEpochBPRMF)
    assert _build(optimizer="sgd") is None  # auto with SGD keeps the per-batch kernel
    assert _build(optimizer="adam") is None
    with pytest.raises(ConfigError, match="sparse_adam runs only with train.kernel"):
        _build(kernel="autograd")
    with pytest.raises(ConfigError, match="must be sparse_adam or sgd, not 'adam'"):
        _build(optimizer="adam", kernel="fused_epoch")
    with pytest.raises(ConfigError, match="grad_clip"):
        _build(grad_clip=1.0)
    with pytest.raises(ConfigError, match="NeuMF"):
        _build(model=NeuMF(6, 12, 4, [4]))
    with pytest.raises(ConfigError, match="weight_decay: sparse_adam has none"):
        build_optimizer(_mf().parameters(), OptimizerConfig(name="sparse_adam", weight_decay=0.1))


SMALL = {
    "seed": 5,
    "data": {"synthetic": {"n_users": 80, "n_items": 100, "interactions_per_user": 12}},
    "model": {"dim": 8, "init_std": 0.1},
    "train": {
        "epochs": 5,
        "batch_size": 128,
        "patience": 50,
        "l2": 1e-3,
        "optimizer": {"name": "sparse_adam", "lr": 0.01},
        "schedule": {"name": "exponential", "gamma": 0.8},
    },
    "eval": {"ks": [10], "metrics": ["ndcg", "recall"]},
}


def test_same_seed_same_run_and_it_learns(tmp_path):
    one = train_run(parse_config(json.loads(json.dumps(SMALL))), tmp_path / "a", show_progress=False)
    two = train_run(parse_config(json.loads(json.dumps(SMALL))), tmp_path / "b", show_progress=False)
    assert one["test"] == two["test"]
    logs = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").open()]
    assert [round(log["lr"], 6) for log in logs] == [round(0.01 * 0.8**e, 6) for e in range(5)]
    assert logs[-1]["loss"] < logs[0]["loss"] < 0.7  # ln 2 = 0.693 at a random start
    other = train_run(parse_config(SMALL | {"seed": 6}), tmp_path / "c", show_progress=False)
    assert other["test"] != one["test"]


def test_killed_and_resumed_run_matches_uninterrupted(tmp_path, crash_at):
    cfg = parse_config(json.loads(json.dumps(SMALL)))
    full = train_run(cfg, tmp_path / "full", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "part", hooks=[crash_at(3)], show_progress=False)
    resumed = train_run(cfg, tmp_path / "part", resume=True, show_progress=False)
    assert resumed["test"] == full["test"]
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key])
    state_a, state_b = a["procedure"]["optimizer"]["state"], b["procedure"]["optimizer"]["state"]
    assert state_a[0]["step"] == state_b[0]["step"] > 5  # several batches per epoch, 5 epochs
    for k in state_a:
        assert torch.equal(state_a[k]["exp_avg_sq"], state_b[k]["exp_avg_sq"])


def test_gan_players_refuse_sparse_adam():
    with pytest.raises(ConfigError, match="model.generator.optimizer.*sparse_adam runs only"):
        parse_config({"model": {"name": "cfgan", "generator": {"optimizer": {"name": "sparse_adam"}}}})
