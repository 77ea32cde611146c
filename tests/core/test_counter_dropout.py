"""Counter-based dropout masks (``model.dropout_rng: counter``): the generator is SplitMix64, masks drop at
the configured rate and independently, a seed fixes them, SASRec uses them at every site, NeuMF and
mf_features' id-dropout too."""

import math

import pytest
import torch
import torch.nn.functional as F

from advrec.models.counter_dropout import MaskStream, keep_mask, splitmix64, splitmix64_reference
from advrec.models.sasrec import SASRec

CPU = torch.device("cpu")


def test_splitmix64_is_the_published_generator():
    # the first outputs of SplitMix64 seeded with 0 (Vigna's splitmix64.c; the seeds of xoshiro)
    assert splitmix64_reference(0, 0) == 0xE220A8397B1DCDAF
    assert splitmix64_reference(1, 0) == 0x6E789E6AA1B965F4
    assert splitmix64_reference(2, 0) == 0x06C45D188009454F
    # the tensor version (wrapping int64 products, masked arithmetic shifts) matches it bit for bit
    counters = torch.tensor([0, 1, 2, 5, 2**31, 2**40 + 7, 2**62 - 1], dtype=torch.int64)
    for seed in (0, 1, 2**61 + 12345, 2**64 - 1):
        got = splitmix64(counters.clone(), seed)
        expected = [splitmix64_reference(int(c), seed) for c in counters]
        assert [int(g) & (2**64 - 1) for g in got] == expected


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5])
def test_masks_drop_at_the_configured_rate_and_independently(p):
    n = 400_000
    for seed in (1, 2, 3):
        keep = keep_mask((n,), p, seed, 0, CPU).double()
        sd = math.sqrt(p * (1 - p) / n)
        assert abs(keep.mean().item() - (1 - p)) < 4.5 * sd
        # neighbours (the two halves of one 64-bit output, and consecutive outputs) are independent
        both = (keep[:-1] * keep[1:]).mean().item()
        assert abs(both - (1 - p) ** 2) < 4.5 * math.sqrt((1 - p) ** 2 * (1 - (1 - p) ** 2) / n)
    assert keep_mask((3, 5), p, 9, 0, CPU).shape == (3, 5)


def test_a_seed_fixes_the_masks_and_each_mask_takes_new_counters():
    a, b = MaskStream(0.5, 7), MaskStream(0.5, 7)
    first = a.mask((10, 20), CPU)
    assert torch.equal(first, b.mask((10, 20), CPU))
    second = a.mask((10, 20), CPU)
    assert not torch.equal(first, second)  # the same shape again: fresh counters, another mask
    # a mask is exactly the counters after the previous one's (an odd size uses half an output)
    c = MaskStream(0.5, 7)
    c.mask((7,), CPU)
    assert torch.equal(c.mask((6,), CPU), keep_mask((6,), 0.5, 7, 4, CPU))
    assert not torch.equal(MaskStream(0.5, 8).mask((10, 20), CPU), first)


def test_inverted_dropout_keeps_the_expectation():
    x = torch.linspace(-2, 3, 50).repeat(4000, 1)
    out = MaskStream(0.2, 3)(x)
    kept = out != 0
    assert torch.allclose(out[kept], (x * 1.25)[kept])
    assert torch.allclose(out.mean(0), x[0], atol=0.06)
    assert MaskStream(0.0, 3)(x) is x
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        MaskStream(1.0, 3)


def test_the_stream_seed_is_drawn_from_torchs_generator():
    torch.manual_seed(5)
    a = MaskStream.from_torch_rng(0.2)
    torch.manual_seed(5)
    assert MaskStream.from_torch_rng(0.2).seed == a.seed
    assert MaskStream.from_torch_rng(0.2).seed != a.seed


def _model(rng: str, dropout: float = 0.3, **kw) -> SASRec:
    gen = torch.Generator().manual_seed(0)
    shape = {"dim": 16, "n_blocks": 2, "n_heads": 2, "max_len": 8, "ffn_dim": 32}
    return SASRec(5, 30, **shape, dropout=dropout, init_std=0.1, generator=gen, dropout_rng=rng, **kw)


SEQS = torch.tensor([[0, 0, 3, 7, 1, 9, 4, 2], [5, 6, 7, 8, 9, 10, 11, 12], [0, 0, 0, 0, 0, 0, 0, 30]])


def test_sasrec_with_counter_masks_is_seeded_and_evaluates_without_dropout():
    torch_model, counter_model = _model("torch").eval(), _model("counter").eval()
    assert torch.equal(torch_model.sequence_scores(SEQS), counter_model.sequence_scores(SEQS))
    counter_model.train()
    torch.manual_seed(1)
    a = counter_model.hidden(SEQS)
    torch.manual_seed(1)
    assert torch.equal(counter_model.hidden(SEQS), a)
    assert not torch.equal(counter_model.hidden(SEQS), a)  # the next forward draws another seed
    torch.manual_seed(1)
    assert not torch.allclose(torch_model.train().hidden(SEQS), a)  # another stream than torch's


def test_counter_attention_is_sdpas_when_nothing_is_dropped():
    block = _model("counter").eval().blocks[0]
    x = torch.randn(3, 8, 16, generator=torch.Generator().manual_seed(2))
    attend = torch.ones(8, 8, dtype=torch.bool).tril().expand(3, 1, 8, 8)
    expected = block._attention(x, x, attend)  # eval: SDPA without dropout
    assert torch.allclose(block._attention(x, x, attend, MaskStream(0.0, 1)), expected, atol=1e-6)


@pytest.mark.parametrize("hidden_dropout", [True, False])
def test_every_dropout_site_uses_the_stream_by_hand(hidden_dropout):
    """Embedding sum, attention weights, attention output, feed-forward hidden layer and output: each
    takes the stream's next mask, in that order."""
    model = _model("counter", dropout=0.5, norm="post", activation="gelu", ffn_hidden_dropout=hidden_dropout)
    model.train()
    torch.manual_seed(4)
    got = model.hidden(SEQS)

    torch.manual_seed(4)
    masks = MaskStream.from_torch_rng(0.5)  # the same seed the forward drew
    real = SEQS > 0
    positions = (real.cumsum(1) - 1).clamp_min(0)
    x = model.embedding_norm(model.item_embedding[SEQS] + model.position_embedding[positions])
    x = masks(x) * real.unsqueeze(-1)
    causal = torch.ones(8, 8, dtype=torch.bool).tril()
    attend = ((causal & real.unsqueeze(1)) | torch.eye(8, dtype=torch.bool)).unsqueeze(1)
    for block in model.blocks:
        q, k, v = block.qkv(x).split(16, dim=-1)
        q, k, v = (t.view(3, 8, 2, 8).transpose(1, 2) for t in (q, k, v))
        weights = torch.softmax((q @ k.transpose(-2, -1) / math.sqrt(8)).masked_fill(~attend, -math.inf), -1)
        att = block.out((masks(weights) @ v).transpose(1, 2).reshape(3, 8, 16))
        x = block.attn_norm(x + masks(att))
        hidden = F.gelu(block.ffn1(x))
        if hidden_dropout:
            hidden = masks(hidden)
        x = block.ffn_norm(x + masks(block.ffn2(hidden))) * real.unsqueeze(-1)
    assert torch.allclose(got, x, atol=1e-5)


def test_one_step_with_counter_masks_changes_parameters_and_lowers_the_loss():
    from advrec.objectives.sequential import SequentialObjective

    model = _model("counter", dropout=0.2)
    inputs = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7], [0, 0, 8, 9, 10, 11, 12, 13]])
    targets = torch.tensor([[0, 2, 3, 4, 5, 6, 7, 8], [0, 0, 9, 10, 11, 12, 13, 14]])
    batch = {"inputs": inputs, "targets": targets}
    objective = SequentialObjective("ce")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model.eval()
    clean_before = float(objective(model, batch).detach())
    model.train()
    torch.manual_seed(0)
    loss = objective(model, batch)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    for name, p in model.named_parameters():
        if name != "position_embedding":
            assert not torch.equal(p, before[name]), name
    model.eval()
    assert float(objective(model, batch).detach()) < clean_before


def test_neumf_with_counter_masks_drops_its_mlp_input_and_is_seeded():
    from advrec.models.neumf import NeuMF

    def neumf(rng: str) -> NeuMF:
        return NeuMF(
            6,
            9,
            dim=4,
            mlp_layers=[8, 4],
            dropout=0.5,
            generator=torch.Generator().manual_seed(0),
            dropout_rng=rng,
        )

    users, items = torch.tensor([0, 1, 2, 3, 4, 5]), torch.tensor([1, 2, 3, 4, 5, 6])
    torch_model, counter_model = neumf("torch").eval(), neumf("counter").eval()
    assert torch.equal(torch_model.score(users, items), counter_model.score(users, items))
    counter_model.train()
    torch.manual_seed(3)
    a = counter_model.score(users, items)
    torch.manual_seed(3)
    assert torch.equal(counter_model.score(users, items), a)
    # by hand: the one dropout layer takes the stream's first mask
    torch.manual_seed(3)
    masks = MaskStream.from_torch_rng(0.5)
    m = counter_model
    x = masks(torch.cat([m.mlp_user(users), m.mlp_item(items)], dim=-1))
    mlp = torch.relu(m.mlp[1](x))
    expected = m.predict(torch.cat([m.gmf_user(users) * m.gmf_item(items), mlp], dim=-1)).squeeze(-1)
    assert torch.allclose(a, expected, atol=1e-6)


def test_mf_features_id_dropout_with_counter_masks():
    from advrec.models.mf_features import MFFeatures

    features = torch.randn(400, 3, generator=torch.Generator().manual_seed(1))
    model = MFFeatures(
        2,
        400,
        features,
        dim=4,
        generator=torch.Generator().manual_seed(0),
        id_dropout=0.3,
        dropout_rng="counter",
    ).train()
    torch.manual_seed(8)
    q, _ = model._item_vectors(None, None)
    content = features @ model.projection.T
    dropped = torch.isclose(q, content).all(dim=1)  # rows scored by their content alone
    assert 0.2 < dropped.float().mean().item() < 0.4
    torch.manual_seed(8)
    assert torch.equal(model._item_vectors(None, None)[0], q)
    torch.manual_seed(8)
    expected = keep_mask((400,), 0.3, MaskStream.from_torch_rng(0.3).seed, 0, CPU)
    assert torch.equal(~dropped, expected)
    everything = MFFeatures(2, 400, features, dim=4, id_dropout=1.0, dropout_rng="counter").train()
    assert torch.allclose(everything._item_vectors(None, None)[0], features @ everything.projection.T)
    with pytest.raises(Exception, match="dropout_rng"):
        MFFeatures(2, 400, features, dropout_rng="fast")
