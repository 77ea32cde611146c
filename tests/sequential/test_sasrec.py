"""SASRec: causal masking, padding, perturbable tables, the losses and one training step of each."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from advrec.models.base import Recommender, SequentialRecommender
from advrec.models.sasrec import SASRec
from advrec.objectives.sequential import SequentialObjective, sample_negatives

N_ITEMS = 30


def _model(dropout: float = 0.0, seed: int = 0, **kw) -> SASRec:
    gen = torch.Generator().manual_seed(seed)
    model = SASRec(
        5,
        N_ITEMS,
        dim=16,
        n_blocks=2,
        n_heads=2,
        max_len=8,
        dropout=dropout,
        init_std=0.1,
        generator=gen,
        **kw,
    )
    return model.eval()


def _seqs() -> torch.Tensor:
    return torch.tensor([[0, 0, 3, 7, 1, 9, 4, 2], [5, 6, 7, 8, 9, 10, 11, 12], [0, 0, 0, 0, 0, 0, 0, 30]])


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_a_position_never_sees_a_later_item(norm):
    model = _model(norm=norm)
    seqs = _seqs()
    base = model.hidden(seqs)
    for t in range(2, 7):
        changed = seqs.clone()
        changed[:, t + 1 :] = seqs[:, t + 1 :] % N_ITEMS + 1  # every later item replaced by another
        changed[2, :] = seqs[2]  # keep the padded row's layout
        out = model.hidden(changed)
        assert torch.allclose(out[:2, : t + 1], base[:2, : t + 1], atol=1e-6)
        assert not torch.allclose(out[1, t + 1 :], base[1, t + 1 :])  # and later positions do see it


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_padding_never_changes_scores(norm):
    model = _model(norm=norm)
    seqs = _seqs()
    scores = model.sequence_scores(seqs)
    assert scores.shape == (3, N_ITEMS)
    # the same items with less padding (shorter arrays) score the same
    short = seqs[:1, 2:]
    assert torch.allclose(model.sequence_scores(short), scores[:1], atol=1e-5)
    # and whatever the padding row of the table holds, nothing changes
    with torch.no_grad():
        model.item_embedding[0].normal_()
    assert torch.allclose(model.sequence_scores(seqs), scores, atol=1e-5)
    # a padded position's state is zero
    assert torch.equal(model.hidden(seqs)[0, :2], torch.zeros(2, 16))


def test_deltas_on_input_and_output_tables():
    model = _model()
    tables = model.embedding_tables()
    assert set(tables) == {"item_input", "item_output"}
    seqs = _seqs()
    clean = model.sequence_scores(seqs)
    delta = torch.zeros_like(model.item_embedding)
    delta[9] = 1.0  # item 9 is in rows 0 and 1 of the sequences, not in row 2
    moved_in = model.sequence_scores(seqs, {"item_input": delta})
    assert not torch.allclose(moved_in[:2], clean[:2]) and torch.allclose(moved_in[2], clean[2])
    moved_out = model.sequence_scores(seqs, {"item_output": delta})
    changed = (moved_out != clean).any(0)
    assert changed.nonzero().flatten().tolist() == [8]  # only item 9's score (column 8) moves
    assert torch.equal(model.sequence_scores(seqs, {}), clean)


def _batch(negatives: bool = False) -> dict[str, torch.Tensor]:
    inputs = torch.tensor([[0, 0, 3, 7, 1, 9, 4, 2], [5, 6, 7, 8, 9, 10, 11, 12]])
    targets = torch.tensor([[0, 0, 7, 1, 9, 4, 2, 6], [6, 7, 8, 9, 10, 11, 12, 13]])
    batch = {"users": torch.tensor([0, 1]), "inputs": inputs, "targets": targets}
    if negatives:
        batch["negatives"] = torch.from_numpy(
            sample_negatives(targets.numpy(), N_ITEMS, np.random.default_rng(0))
        )
    return batch


def test_ce_and_bce_losses_by_hand():
    model = _model()
    batch = _batch(negatives=True)
    states = model.hidden(batch["inputs"]).detach()
    items = model.item_embedding.detach()
    ce_sum, bce_sum = 0.0, 0.0
    for b in range(2):
        for t in range(8):
            target = int(batch["targets"][b, t])
            if target == 0:
                continue
            logits = states[b, t] @ items[1:].T
            ce_sum += float(torch.logsumexp(logits, 0) - logits[target - 1])
            pos = float(states[b, t] @ items[target])
            neg = float(states[b, t] @ items[int(batch["negatives"][b, t])])
            bce_sum += -math.log(1 / (1 + math.exp(-pos))) - math.log(1 - 1 / (1 + math.exp(-neg)))
    with torch.no_grad():
        ce, bce = SequentialObjective("ce")(model, batch), SequentialObjective("bce")(model, batch)
    assert float(ce) == pytest.approx(ce_sum / (8 * 2), rel=1e-5)
    assert float(bce) == pytest.approx(bce_sum / (8 * 2), rel=1e-5)


def test_sample_negatives_never_hit_the_target():
    targets = np.random.default_rng(1).integers(1, 4, size=(50, 20))
    neg = sample_negatives(targets, 3, np.random.default_rng(2))
    assert (neg != targets).all() and neg.min() >= 1 and neg.max() <= 3


@pytest.mark.parametrize(("loss", "norm"), [("ce", "pre"), ("bce", "pre"), ("ce", "post")])
def test_one_step_changes_parameters_and_lowers_the_loss(loss, norm):
    torch.manual_seed(0)
    model = _model(dropout=0.0, norm=norm).train()
    batch = _batch(negatives=loss == "bce")
    objective = SequentialObjective(loss)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    first = objective(model, batch)
    optimizer.zero_grad()
    first.backward()
    optimizer.step()
    for name, p in model.named_parameters():
        if name != "position_embedding":  # every row is used here, yet check each tensor moved
            assert not torch.equal(p, before[name]), name
    assert float(objective(model, batch).detach()) < float(first.detach())


def test_dropout_only_in_training_and_errors():
    model = _model(dropout=0.5)
    seqs = _seqs()
    assert torch.equal(model.sequence_scores(seqs), model.sequence_scores(seqs))
    model.train()
    assert not torch.equal(model.hidden(seqs), model.hidden(seqs))
    with pytest.raises(ValueError, match="max_len"):
        model.hidden(torch.ones(1, 9, dtype=torch.long))
    from advrec.errors import AdvrecError

    with pytest.raises(AdvrecError, match="divisible"):
        SASRec(2, 3, dim=10, n_heads=3)
    # a sequential model scores histories: it offers nothing of user-id scoring to refuse
    assert isinstance(model, SequentialRecommender) and not isinstance(model, Recommender)
    assert not hasattr(model, "full_scores") and not hasattr(model, "score")
    with pytest.raises(Exception, match="unknown loss"):
        SequentialObjective("bpr")


def test_feed_forward_width_and_activation():
    """RecBole's block variant (wide GELU feed-forward) keeps causality and padding-freedom."""
    kang = _model()
    wide = _model(ffn_dim=32, activation="gelu")
    assert kang.blocks[0].ffn1.weight.shape == (16, 16)
    assert wide.blocks[0].ffn1.weight.shape == (32, 16)
    assert wide.blocks[0].ffn2.weight.shape == (16, 32)
    seqs = _seqs()
    relu_wide = _model(ffn_dim=32, activation="relu")
    # same seed, same shapes: only the activation differs, and it changes the scores
    assert not torch.allclose(wide.sequence_scores(seqs), relu_wide.sequence_scores(seqs))
    base = wide.hidden(seqs)
    changed = seqs.clone()
    changed[1, 5:] = seqs[1, 5:] % N_ITEMS + 1
    assert torch.allclose(wide.hidden(changed)[1, :5], base[1, :5], atol=1e-6)
    assert torch.allclose(wide.sequence_scores(seqs[:1, 2:]), wide.sequence_scores(seqs)[:1], atol=1e-5)
    from advrec.errors import AdvrecError

    with pytest.raises(AdvrecError, match="activation"):
        _model(activation="tanh")


def test_post_norm_blocks_are_recboles_by_hand():
    """norm post: LN(E s + P), then per block x = LN(x + MHA(x)), x = LN(x + FFN(x)); no sqrt(dim) scale."""
    gen = torch.Generator().manual_seed(3)
    model = SASRec(
        2,
        6,
        dim=4,
        n_blocks=1,
        n_heads=1,
        max_len=3,
        dropout=0.0,
        init_std=0.5,
        generator=gen,
        ffn_dim=8,
        activation="gelu",
        norm="post",
    ).eval()
    assert not hasattr(model, "final_norm") and hasattr(model, "embedding_norm")
    with torch.no_grad():  # non-trivial norm parameters, so a wrongly placed norm shows
        for p in (
            model.embedding_norm.weight,
            model.blocks[0].attn_norm.bias,
            model.blocks[0].ffn_norm.weight,
        ):
            p.uniform_(0.5, 1.5, generator=gen)
    seq = torch.tensor([[2, 5, 1]])
    blk = model.blocks[0]

    def ln(x, norm):
        return (x - x.mean(-1, keepdim=True)) / torch.sqrt(
            x.var(-1, unbiased=False, keepdim=True) + 1e-8
        ) * norm.weight + norm.bias

    x = ln(model.item_embedding[seq[0]] + model.position_embedding, model.embedding_norm)
    wq, wk, wv = blk.qkv.weight.split(4)
    bq, _, bv = blk.qkv.bias.split(4)
    q, k, v = x @ wq.T + bq, x @ wk.T, x @ wv.T + bv
    logits = (q @ k.T) / 2.0 + torch.triu(torch.full((3, 3), float("-inf")), 1)
    att = torch.softmax(logits, -1) @ v @ blk.out.weight.T + blk.out.bias
    x = ln(x + att, blk.attn_norm)
    ffn = torch.nn.functional.gelu(x @ blk.ffn1.weight.T + blk.ffn1.bias) @ blk.ffn2.weight.T + blk.ffn2.bias
    x = ln(x + ffn, blk.ffn_norm)
    assert torch.allclose(model.hidden(seq)[0], x, atol=1e-5)
    from advrec.errors import AdvrecError

    with pytest.raises(AdvrecError, match="norm"):
        _model(norm="mid")


@pytest.mark.parametrize("hidden_dropout", [True, False])
def test_feed_forward_hidden_dropout_by_hand(hidden_dropout):
    """Kang's feed-forward drops out its hidden layer and its output; RecBole's only its output."""
    model = _model(dropout=0.5, ffn_dim=32, activation="gelu", ffn_hidden_dropout=hidden_dropout).train()
    block = model.blocks[0]
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(4))
    torch.manual_seed(11)
    got = block._ffn(x)
    torch.manual_seed(11)
    hidden = F.gelu(block.ffn1(x))
    if hidden_dropout:
        hidden = F.dropout(hidden, 0.5, True)
    expected = F.dropout(block.ffn2(hidden), 0.5, True)
    assert torch.allclose(got, expected, atol=1e-6)
    model.eval()  # and no dropout at all in evaluation, either way
    assert torch.allclose(block._ffn(x), block.ffn2(F.gelu(block.ffn1(x))), atol=1e-6)
