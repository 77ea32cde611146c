"""Two CPU ranks under torchrun (gloo) reproduce the single-process run.

What is equal and why: every rank draws the same epoch of triples and trains on its slice of each
global batch, with its loss scaled so that DDP's gradient average is the gradient of the global batch
mean. Parameters therefore equal the single-process ones up to floating-point summation order
(the all-reduce adds two partial sums instead of one sum), i.e. to ~1e-6 after a few epochs; the
ranking metrics, computed from those parameters, agree to the same precision. (The single-process MF
run takes the fused BPR kernel, DDP takes autograd: another summation order, same tolerance.) Dropout
would draw different masks per rank, so the comparison uses MF.
"""

import json
import subprocess
import sys

import pytest
import torch
import yaml

from advrec.train.checkpoint import load_checkpoint

CONFIG = {
    "seed": 3,
    "data": {"synthetic": {"n_users": 150, "n_items": 200, "interactions_per_user": 15}},
    "model": {"name": "mf", "dim": 16},
    "train": {"epochs": 3, "batch_size": 250, "patience": 50, "l2": 1e-4, "optimizer": {"lr": 0.01}},
    "eval": {"ks": [10]},
}


APR = {"name": "apr", "method": "pgd", "pgd_steps": 2, "eps": 0.1, "start_epoch": 1}


@pytest.mark.slow
@pytest.mark.parametrize("adversary", [None, APR], ids=["plain", "apr"])
def test_two_gloo_ranks_match_single_process(tmp_path, adversary):
    """With APR the ranks also all-reduce the gradient w.r.t. the embeddings, so that each builds the
    single-process perturbation, and DDP runs two forwards (plain, adversarial) before one backward."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**CONFIG, **({"adversary": adversary} if adversary else {})}))
    base = ["-m", "advrec", "train", str(cfg), "--quiet", "--out"]
    subprocess.run([sys.executable, *base, str(tmp_path / "single")], check=True, capture_output=True)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*launcher, *base, str(tmp_path / "ddp")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = json.loads((tmp_path / "single" / "results.json").read_text())
    ddp = json.loads((tmp_path / "ddp" / "results.json").read_text())
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    if adversary:
        for run in ("single", "ddp"):
            log = [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
            assert "adv_loss" not in log[0] and all("adv_loss" in line for line in log[1:])
    for key, value in single["test"].items():
        assert ddp["test"][key] == pytest.approx(value, abs=1e-4), key
    a = load_checkpoint(tmp_path / "single" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")["model"]
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name
