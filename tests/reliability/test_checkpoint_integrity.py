"""Checkpoints carry a sha256 and a checked structure: damaged or foreign files are one DataError."""

import io
import zipfile

import pytest
import torch

from advrec.errors import AdvrecWarning, DataError
from advrec.train.checkpoint import (
    check_trainer_state,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
)

TRAINER = {"epoch": 2, "best": 0.25, "best_epoch": 1, "bad_epochs": 0, "best_valid": {"ndcg@10": 0.25}}


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 2))


def state():
    return {"model": model().state_dict(), "trainer": dict(TRAINER)}


def test_round_trip_keeps_every_tensor(tmp_path):
    save_checkpoint(tmp_path / "c.pt", state())
    back = load_checkpoint(tmp_path / "c.pt")
    assert back["trainer"] == TRAINER
    assert all(torch.equal(back["model"][k], v) for k, v in model().state_dict().items())
    assert torch.load(tmp_path / "c.pt", weights_only=True)["trainer"] == TRAINER  # still plain torch


@pytest.mark.parametrize("where", [0.3, 0.6, 0.9])
def test_flipped_bytes_are_refused_naming_the_file(tmp_path, where):
    """Before: 64 flipped bytes in best.pt evaluated to another NDCG@10 with exit 0."""
    path = tmp_path / "best.pt"
    save_checkpoint(path, state())
    data = bytearray(path.read_bytes())
    start = int(len(data) * where)
    for i in range(start, start + 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"best\.pt: checksum mismatch: the file is damaged"):
        load_checkpoint(path)


@pytest.mark.parametrize("cut", [0, 40, 80])
def test_a_damaged_checksum_line_is_refused_not_read_as_an_older_file(tmp_path, cut):
    """Found by the fault drill: flipped bytes in the trailer made the file look like one written before
    checksums, which then loaded (unverified) with exit 0."""
    path = tmp_path / "best.pt"
    save_checkpoint(path, state())
    data = bytearray(path.read_bytes())
    for i in range(len(data) - 90 + cut, len(data) - 90 + cut + 10):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"best\.pt: (damaged checkpoint|checksum mismatch)"):
        load_checkpoint(path)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, state())
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(DataError, match=r"last\.pt: "):
        load_checkpoint(path)


def _plain_torch_file(path, obj):
    torch.save(obj, path)
    return path


@pytest.mark.parametrize(
    "obj, needle",
    [
        ([1, 2, 3], "expected a dict of named entries, found list"),
        ({"model": [1]}, "'model' should map parameter names to tensors"),
        ({"model": {"w": 3}}, "'model.w' should be a tensor"),
        ({"model": {"w": torch.tensor([1.0, float("nan")])}}, "'model.w' holds NaN or infinite values"),
        ({"trainer": {**TRAINER, "epoch": 1e9}}, r"'trainer.epoch' should be int, found 1000000000.0"),
        ({"trainer": {**TRAINER, "epoch": True}}, "'trainer.epoch' should be int"),
        ({"trainer": {k: v for k, v in TRAINER.items() if k != "best"}}, "'trainer.best' is missing"),
        ({"trainer": {**TRAINER, "best": float("nan")}}, "'trainer.best' should be float"),
        ({"trainer": {**TRAINER, "epoch": -3}}, "'trainer' counts are negative"),
        ({"trainer": {**TRAINER, "best_epoch": 7}}, "'trainer.best_epoch' 7 is not before 'trainer.epoch' 2"),
    ],
)
def test_foreign_structures_are_refused(tmp_path, obj, needle):
    """Before: a structurally wrong torch file gave a KeyError traceback; trainer.epoch = 1e9 was taken."""
    path = tmp_path / "x.pt"
    save_checkpoint(path, obj)
    with pytest.raises(DataError, match=needle):
        load_checkpoint(path)


def test_model_state_must_fit_the_model(tmp_path):
    path = tmp_path / "best.pt"
    save_checkpoint(path, state())
    assert set(load_model_state(path, model())) == set(model().state_dict())
    other = torch.nn.Sequential(torch.nn.Embedding(60, 8), torch.nn.Linear(8, 2))
    with pytest.raises(DataError, match=r"best\.pt: '0.weight' has shape \(50, 8\), the model \(60, 8\)"):
        load_model_state(path, other)
    with pytest.raises(DataError, match="does not fit Linear: missing weight, bias; unexpected 0.weight"):
        load_model_state(path, torch.nn.Linear(8, 2))
    save_checkpoint(path, {"trainer": dict(TRAINER)})
    with pytest.raises(DataError, match="holds no 'model' entry"):
        load_model_state(path, model())


def test_trainer_epoch_must_fit_the_run(tmp_path):
    check_trainer_state(TRAINER, "last.pt", epochs=2)
    with pytest.raises(DataError, match=r"last\.pt: 'trainer.epoch' is 2, outside this run's 0..1"):
        check_trainer_state(TRAINER, "last.pt", epochs=1)


def test_files_of_no_known_kind(tmp_path):
    (tmp_path / "a.pt").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match=r"a\.pt: not a checkpoint"):
        load_checkpoint(tmp_path / "a.pt")
    with pytest.raises(DataError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")
    with pytest.raises(DataError, match="not a checkpoint file"):
        load_checkpoint(tmp_path)


def test_a_checkpoint_without_checksum_loads_with_a_warning_after_its_crcs(tmp_path):
    """Files written before the checksum existed: documented choice, they load (their zip CRCs checked)."""
    path = _plain_torch_file(tmp_path / "old.pt", state())
    with pytest.warns(AdvrecWarning, match="written without a checksum"):
        assert load_checkpoint(path)["trainer"] == TRAINER
    with zipfile.ZipFile(path) as archive:  # damage inside one member: its CRC-32 no longer matches
        info = next(i for i in archive.infolist() if i.filename.endswith("/data/0"))
    data = bytearray(path.read_bytes())
    local = info.header_offset  # the local header's own name and extra lengths place the data
    name_len, extra_len = (int.from_bytes(data[local + k : local + k + 2], "little") for k in (26, 28))
    offset = local + 30 + name_len + extra_len + 4
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="fails its CRC-32"):
        load_checkpoint(path)


def test_save_is_atomic_and_holds_a_verifiable_sha(tmp_path):
    import hashlib
    import re

    save_checkpoint(tmp_path / "c.pt", state())
    data = (tmp_path / "c.pt").read_bytes()
    payload, trailer = data.rsplit(b"\nADVREC-CHECKPOINT sha256=", 1)
    assert trailer.strip().decode() == hashlib.sha256(payload).hexdigest()
    assert re.fullmatch(r"c\.pt", " ".join(p.name for p in tmp_path.iterdir()))
    assert torch.load(io.BytesIO(payload), weights_only=True)["trainer"] == TRAINER
