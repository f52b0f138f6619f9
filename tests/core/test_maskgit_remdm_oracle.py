"""``maskgit`` and ``remdm`` against exact answers, with an oracle denoiser of a known distribution on V^L."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare

from ladd_core.build import build_sampler
from ladd_core.components.absorbing import remasking_bound, remasking_step, sparse_categorical
from ladd_core.conditioning import Condition
from ladd_core.testing.toys import build_tiny_model
from ladd_samplers.maskgit import reveal_counts
from tests.core.test_sampler_oracle import STATES, L, V, _hist, _target, oracle_model


@pytest.fixture()
def model(components):
    """The oracle model of ``test_sampler_oracle``: the exact conditionals of ``_target()`` over V^L."""
    return oracle_model(components)


def _sampler(components, name, **fields):
    return build_sampler(components, components.get("sampler", name).Config(**fields))


def test_maskgit_random_order_one_reveal_per_step_is_exact(components, model):
    """N = L, one position per step in random order, exact conditionals: any-order autoregression = the joint."""
    s = _sampler(components, "maskgit", steps=L, order="random")
    out = s.sample(model, 3000, generator=torch.Generator().manual_seed(0))
    assert out.nfe == L and out.info["reveals"] == [3000] * L
    assert chisquare(_hist(out.tokens), _target() * 3000).pvalue > 1e-3


@pytest.mark.parametrize("order", ["random", "confidence"])
def test_maskgit_one_step_draws_each_masked_position_from_its_marginal(components, model, order):
    """N = 1 reveals every position at once: the candidates, drawn only at masked positions (float64, a
    stream that skips the revealed ones), must follow the product of the per-position marginals."""
    out = _sampler(components, "maskgit", steps=1, order=order).sample(
        model, 4000, generator=torch.Generator().manual_seed(3)
    )
    onehot = torch.nn.functional.one_hot(STATES, V).double()
    marg = torch.einsum("s,slv->lv", _target(), onehot)  # (L, V)
    prod = marg[0][STATES[:, 0]] * marg[1][STATES[:, 1]] * marg[2][STATES[:, 2]]
    assert chisquare(_hist(out.tokens), prod * 4000).pvalue > 1e-3


def test_maskgit_confidence_order_is_biased_toward_likely_sequences(components, model):
    """Greedy confidence order is not the joint: it favours the modes (the diversity trade-off)."""
    s = _sampler(components, "maskgit", steps=L)
    x = s.sample(model, 3000, generator=torch.Generator().manual_seed(1)).tokens
    modes = (_hist(x)[[0, 13, 26]].sum() / 3000).item()
    assert modes > float(_target()[[0, 13, 26]].sum()) + 0.03


@pytest.mark.parametrize(("steps", "length"), [(4, 8), (3, 3), (5, 17), (1, 6)])
def test_maskgit_reveals_k_i_per_step_and_nfe_is_n(components, steps, length):
    model = build_tiny_model(components, {"name": "none"}, vocab_size=V, seq_len=length).model.eval()
    s = _sampler(components, "maskgit", steps=steps, cache=False)
    masks: list[int] = []
    hook = model.backbone.register_forward_hook(lambda m, a, o: masks.append(int((a[0] == V).sum())))
    try:
        out = s.sample(model, 2, generator=torch.Generator().manual_seed(0), length=length)
    finally:
        hook.remove()
    alpha = model.process.schedule.alpha
    ts = torch.linspace(1.0, 1e-5, steps + 1, dtype=torch.float64)
    left = (1 - alpha(ts[1:]).double()) / (1 - alpha(ts[:1]).double())
    k = reveal_counts(torch.tensor([length, length]), left)  # (N, B)
    assert int(k.sum()) == 2 * length and out.nfe == steps == len(masks)
    assert out.info["reveals"] == k.sum(-1).tolist()
    assert masks == [2 * length - int(k[:i].sum()) for i in range(steps)]  # masks seen before step i
    assert not model.process.is_noised(out.tokens).any()


def test_reveal_counts_add_up_with_a_condition():
    k = reveal_counts(torch.tensor([5, 0, 12]), torch.tensor([0.6, 0.2, 0.0], dtype=torch.float64))
    assert k.sum(0).tolist() == [5, 0, 12] and bool((k >= 0).all())
    assert k[:, 2].tolist() == [5, 5, 2]


@pytest.mark.parametrize("steps", [1, 3, 16])
def test_remdm_without_remasking_is_ancestral_sample_for_sample(components, model, steps):
    for fields in ({"eta": 0.0}, {"eta": 0.0, "strategy": "rescale"}):
        a = _sampler(components, "ancestral", steps=steps).sample(model, 64, generator=torch.Generator().manual_seed(5))
        r = _sampler(components, "remdm", steps=steps, **fields).sample(
            model, 64, generator=torch.Generator().manual_seed(5)
        )
        assert torch.equal(a.tokens, r.tokens) and a.nfe == r.nfe


def test_remdm_with_remasking_differs_and_still_samples_the_joint(components, model):
    """A valid remasking posterior with an exact denoiser and small steps still samples the data distribution."""
    s = _sampler(components, "remdm", steps=200, strategy="rescale", eta=0.5)
    out = s.sample(model, 3000, generator=torch.Generator().manual_seed(2))
    a = _sampler(components, "ancestral", steps=200).sample(model, 3000, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(out.tokens, a.tokens)
    assert chisquare(_hist(out.tokens), _target() * 3000).pvalue > 1e-3


def test_remasking_step_respects_the_bound_and_frozen_tokens(components, model):
    sched = model.process.schedule
    t, s = torch.full((4000,), 0.6), torch.full((4000,), 0.5)
    bound = remasking_bound(sched, t, s)
    a_t, a_s = sched.alpha(t).double(), sched.alpha(s).double()
    torch.testing.assert_close(bound[:, 0], ((1 - a_s) / a_t).clamp(max=1.0))
    x = torch.zeros(4000, 2, dtype=torch.long)  # all revealed
    frozen = torch.tensor([[True, False]]).expand(4000, 2)
    lp = torch.log(torch.full((4000, 2, V + 1), 1.0 / V)).index_fill(-1, torch.tensor([V]), -1e9)
    g = torch.Generator().manual_seed(0)
    out = remasking_step(x, V, sched, t, s, torch.ones(4000, 1), sparse_categorical(lp, g), g, frozen)
    assert bool((out[:, 0] == 0).all())  # frozen: never re-masked
    rate = float((out[:, 1] == V).double().mean())  # sigma = 1 is clamped to the bound
    assert abs(rate - float(bound[0, 0])) < 0.03


def test_remasking_step_sigma_as_a_function_of_the_bound_is_the_same_step(components, model):
    """The sampler passes sigma as a function of sigma_max (one schedule evaluation per step): same ids, same draws."""
    sched = model.process.schedule
    t, s = torch.rand(500, generator=torch.Generator().manual_seed(3)) * 0.9 + 0.1, torch.full((500,), 0.05)
    x = torch.randint(0, V + 1, (500, 3), generator=torch.Generator().manual_seed(4))
    lp = torch.log(torch.full((500, 3, V + 1), 1.0 / V)).index_fill(-1, torch.tensor([V]), -1e9)
    for eta, fn in ((0.3, lambda b: b.clamp_max(0.3)), (0.5, lambda b: 0.5 * b)):
        as_tensor = fn(remasking_bound(sched, t, s))
        g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        one = remasking_step(x, V, sched, t, s, as_tensor, sparse_categorical(lp, g1), g1)
        two = remasking_step(x, V, sched, t, s, fn, sparse_categorical(lp, g2), g2)
        assert torch.equal(one, two) and not torch.equal(one, x), eta


def test_remdm_keeps_a_condition(components, model):
    cond = Condition(torch.tensor([[2, 0, 0]]), torch.tensor([[True, False, False]]))
    out = _sampler(components, "remdm", steps=8, eta=1.0, strategy="rescale").sample(
        model, 200, generator=torch.Generator().manual_seed(0), condition=cond
    )
    assert bool((out.tokens[:, 0] == 2).all())
    # the exact conditional p(x | x_0 = 2) puts most mass on 222
    assert float((out.tokens == 2).all(-1).double().mean()) > 0.5


def test_maskgit_rows_with_different_masked_counts_each_reveal_their_own_k(components):
    """A condition leaves rows with 9, 7 and 4 masks: each row reveals its own ``k_i`` per step, never a given token."""
    length, steps = 9, 3
    model = build_tiny_model(components, {"name": "none"}, vocab_size=V, seq_len=length).model.eval()
    visible = torch.zeros(3, length, dtype=torch.bool)
    visible[1, :2] = True
    visible[2, 3:8] = True
    cond = Condition(torch.full((3, length), 1, dtype=torch.long), visible)
    seen: list[list[int]] = []
    hook = model.backbone.register_forward_hook(lambda m, a, o: seen.append((a[0] == V).sum(-1).tolist()))
    try:
        out = _sampler(components, "maskgit", steps=steps, cache=False).sample(
            model, 3, generator=torch.Generator().manual_seed(0), condition=cond
        )
    finally:
        hook.remove()
    alpha = model.process.schedule.alpha
    ts = torch.linspace(1.0, 1e-5, steps + 1, dtype=torch.float64)
    left = (1 - alpha(ts[1:]).double()) / (1 - alpha(ts[:1]).double())
    k = reveal_counts(torch.tensor([9, 7, 4]), left)  # (N, B)
    assert len(set(k[0].tolist())) > 1, "the rows must reveal different numbers in a step"
    assert seen == [(torch.tensor([9, 7, 4]) - k[:i].sum(0)).tolist() for i in range(steps)]
    assert out.info["reveals"] == k.sum(-1).tolist()
    assert not model.process.is_noised(out.tokens).any()
    assert torch.equal(out.tokens[visible], torch.ones(int(visible.sum()), dtype=torch.long))
