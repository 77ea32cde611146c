"""The UniSRec-style text model: its adaptor, its two kinds of items and one training step (runs on real
texts: tests/text/test_unisrec_run.py)."""

import numpy as np
import pytest
import torch

from advrec.models.registry import MODELS, build_model
from advrec.models.unisrec import MoEAdaptor, UniSRec
from advrec.objectives.sequential import SequentialObjective


def _model(items: str, text: torch.Tensor, seed: int = 0, **over) -> UniSRec:
    settings = {"name": "unisrec", "items": items, "dim": 8, "max_len": 5, "init_std": 0.1, **over}
    n = text.shape[0]
    train = type("Train", (), {"n_users": 3, "n_items": n, "items": np.arange(n - 1)})  # the last: no rows
    return build_model(MODELS.validate(settings), train, torch.Generator().manual_seed(seed), text)


def test_adaptor_is_the_gated_sum_of_whitening_experts():
    adaptor = MoEAdaptor(3, 2, 2, dropout=0.0)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in adaptor.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    t = torch.randn(4, 3, generator=gen)
    gates = torch.softmax(t @ adaptor.gate, dim=-1)
    by_hand = sum(gates[:, [e]] * ((t - adaptor.centre[e]) @ adaptor.weight[e]) for e in range(2))
    assert torch.allclose(adaptor(t), by_hand, atol=1e-6)


def test_text_only_items_are_their_texts():
    """The inductive model scores an item from its text alone: two items with one text score alike, and a
    text the model has never seen scores as an item of that text would; the ID model tells them apart."""
    text = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    text[5] = text[2]  # item 5: item 2's text
    seqs = torch.tensor([[0, 1, 2, 4], [1, 3, 3, 6]])
    inductive = _model("text", text).eval()
    scores = inductive.sequence_scores(seqs)
    assert torch.allclose(scores[:, 5], scores[:, 2]) and not torch.allclose(scores[:, 5], scores[:, 1])
    assert "item_id" not in inductive.embedding_tables() and not hasattr(inductive, "item_embedding")
    fresh = inductive.scored_vectors(inductive.text_item_vectors(text[[3]]))
    assert torch.allclose(fresh, inductive.output_items()[[4]], atol=1e-6)  # item index 3 = shifted id 4
    transductive = _model("id_text", text).eval()
    scores = transductive.sequence_scores(seqs)
    assert not torch.allclose(scores[:, 5], scores[:, 2])


@pytest.mark.parametrize("items", ["id_text", "text"])
def test_one_step_moves_every_parameter_and_lowers_the_loss(items):
    text = torch.randn(10, 6, generator=torch.Generator().manual_seed(2))
    model = _model(items, text, adaptor_dropout=0.0).train()
    gen = torch.Generator().manual_seed(3)
    batch = {
        "inputs": torch.randint(1, 11, (8, 5), generator=gen),
        "targets": torch.randint(1, 11, (8, 5), generator=gen),
    }
    objective = SequentialObjective("ce")
    frozen = model.item_text.clone()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    torch.manual_seed(0)
    loss = objective(model, batch)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    for key, value in model.named_parameters():
        assert not torch.equal(value, before[key]), key
    torch.manual_seed(0)
    assert objective(model, batch).item() < loss.item()
    assert torch.equal(model.item_text, frozen)


def test_a_training_step_shares_one_computation_of_the_item_vectors_until_the_weights_change():
    text = torch.randn(7, 4, generator=torch.Generator().manual_seed(4))
    model = _model("id_text", text, adaptor_dropout=0.0).train()
    first = model.input_items()
    assert model.input_items() is first  # the sequence and the scored items read one computation
    first.sum().backward()  # the step's backward: its weights are about to change
    again = model.input_items()
    assert again is not first and torch.equal(again, first)
    other = _model("id_text", text, seed=5, adaptor_dropout=0.0)
    model.load_state_dict(other.state_dict())  # new weights without a backward in between
    assert torch.allclose(model.input_items(), other.train().input_items())
    with torch.no_grad():  # evaluation computes them afresh, never from a training step's graph
        assert model.input_items() is not model.input_items()


def test_a_trained_only_softmax_leaves_items_without_training_rows_out_while_training():
    text = torch.randn(6, 4, generator=torch.Generator().manual_seed(6))
    model = _model("text", text, train_softmax="trained").train()
    rows = model.output_items()
    assert torch.equal(rows[6], torch.zeros(8)) and rows[1:6].norm(dim=1).gt(0).all()  # item 5: no rows
    assert model.eval().output_items()[6].norm() > 0  # scored from its text once trained
    assert _model("text", text).train().output_items()[6].norm() > 0  # all: a negative like any other
