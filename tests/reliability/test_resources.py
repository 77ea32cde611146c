"""Running out of memory or disk anywhere (not only in advrec's atomic writes) is one line, exit 2."""

import errno
import os

import pytest
import torch


def test_out_of_memory_is_one_line(tmp_path, cli, base_yaml, monkeypatch):
    """Before: torch's 'DefaultCPUAllocator: can't allocate memory' RuntimeError traceback (dim 1e9)."""

    def allocate(self, *args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
            "tried to allocate 1256000000000 bytes. Error code 12 (Cannot allocate memory)"
        )

    monkeypatch.setattr(torch.nn.Embedding, "__init__", allocate)
    result = cli("train", base_yaml, "--out", tmp_path / "run", "--quiet", "--set", "model.dim=1000000000")
    assert result.code == 2
    assert (
        "out of memory: can't allocate memory: you tried to allocate 1256000000000 bytes"
        in result.error_line()
    )


def test_a_full_disk_in_a_plain_write_is_one_line(tmp_path, cli, base_yaml, monkeypatch):
    from advrec.train.trainer import Trainer

    def full(self, log):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "run" / "metrics.jsonl"))

    monkeypatch.setattr(Trainer, "_append_log", full)
    result = cli("train", base_yaml, "--out", tmp_path / "run", "--quiet")
    assert result.code == 2
    assert "metrics.jsonl: cannot write: No space left on device" in result.error_line()


@pytest.mark.parametrize("exc", [RuntimeError("a bug"), OSError(errno.EACCES, "Permission denied")])
def test_other_exceptions_still_show_their_traceback(tmp_path, base_yaml, monkeypatch, exc):
    """Only the machine's exhaustion is turned into a line: a bug must stay visible as one."""
    from advrec.cli.main import main
    from advrec.train.trainer import Trainer

    def broken(self, log):
        raise exc

    monkeypatch.setattr(Trainer, "_append_log", broken)
    with pytest.raises(type(exc)):
        main(["train", str(base_yaml), "--out", str(tmp_path / "run"), "--quiet"])
