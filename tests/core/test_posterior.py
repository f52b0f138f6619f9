"""TokenPosterior: rows normalised on demand agree with the full SUBS log-probs, and draws are exact."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare

from ladd_core import numerics
from ladd_core.build import build_component
from ladd_core.components.absorbing import reveal_probability
from ladd_core.config.experiment import validate_config
from ladd_core.numerics import NonFiniteError, _pick, sample_categorical
from ladd_core.posterior import TokenPosterior

V, B, L = 5, 3, 16


@pytest.fixture()
def process(components):
    cfg = validate_config({}, components)
    return build_component(components, "token_process", cfg.model.token_process, vocab_size=V)


def _state(process, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randint(0, V, (B, L), generator=g)
    x_t = process.forward_sample(x0, torch.full((B,), 0.6), torch.ones(B, L, dtype=torch.bool), g).x_t
    logits = 3 * torch.randn(B, L, V + 1, generator=g)
    return x_t, logits


@pytest.mark.parametrize(("forbidden", "temperature", "top_p"), [((), 1.0, 1.0), ((0, 3), 1.0, 1.0),
                                                                  ((1,), 0.5, 1.0), ((), 1.3, 0.7)])  # fmt: skip
def test_rows_equal_the_full_log_probs(process, forbidden, temperature, top_p):
    x_t, logits = _state(process)
    post = TokenPosterior(x_t, logits=logits, process=process, forbidden_ids=forbidden, temperature=temperature,
                          top_p=top_p)  # fmt: skip
    where = (x_t == process.mask_id).nonzero(as_tuple=True)
    rows = post.probs(where)  # (n, V): the mask column left out
    full = post.log_probs()[where].double().exp()  # (n, V + 1)
    assert rows.shape == (len(where[0]), V) and rows.dtype == torch.float64
    assert torch.allclose(rows, full[:, :V], atol=1e-6) and float(full[:, V:].sum()) < 1e-6
    assert torch.allclose(rows.sum(-1), torch.ones(len(where[0]), dtype=torch.float64))
    for i in forbidden:
        assert (rows[:, i] == 0).all()


@pytest.mark.parametrize("dense", [False, True])
def test_draw_changes_only_the_chosen_positions_and_follows_the_rows(process, monkeypatch, dense):
    monkeypatch.setattr(TokenPosterior, "dense_limit", 1 << 30 if dense else 0)
    _, logits = _state(process)
    logits = logits[:1, :1].expand(20000, 1, V + 1)  # one row's distribution, many draws
    x = torch.full((20000, 1), process.mask_id)
    post = TokenPosterior(x, logits=logits, process=process, forbidden_ids=(2,))
    where = torch.ones_like(x, dtype=torch.bool)
    where[::2] = False  # half the rows are not drawn
    out, p_drawn = post.sample(x, where, torch.Generator().manual_seed(1), with_probs=True)
    assert (out[~where] == process.mask_id).all()
    drawn = out[where]
    counts = torch.bincount(drawn, minlength=V).double()
    p = torch.softmax(logits[0, 0, :V].double().index_fill(0, torch.tensor([2]), float("-inf")), -1)
    assert counts[2] == 0 and (drawn < V).all()
    keep = p > 0
    assert chisquare(counts[keep], p[keep] * len(drawn)).pvalue > 1e-3
    assert torch.allclose(p_drawn[where], p[drawn]), "with_probs gives each drawn id's probability"


@pytest.mark.parametrize("dense", [False, True])
def test_non_finite_logits_raise_where_drawn(process, monkeypatch, dense):
    monkeypatch.setattr(TokenPosterior, "dense_limit", 1 << 30 if dense else 0)
    x_t, logits = _state(process)
    masked = x_t == process.mask_id
    bad = logits.clone()
    bad[masked.nonzero()[0].tolist()] = float("nan")  # one masked row
    post = TokenPosterior(x_t, logits=bad, process=process)
    with pytest.raises(NonFiniteError, match="non-finite"):
        post.draw(torch.Generator().manual_seed(0))(x_t, masked)
    with pytest.raises(NonFiniteError, match="denoiser logits"):
        post.log_probs()


def test_from_log_probs_matches_the_logits_path(process):
    x_t, logits = _state(process)
    a = TokenPosterior(x_t, logits=logits, process=process)
    b = TokenPosterior.from_log_probs(TokenPosterior(x_t, logits=logits, process=process).log_probs(), x_t)
    where = (x_t == process.mask_id).nonzero(as_tuple=True)
    assert torch.allclose(a.probs(where), b.probs(where)[:, :V], atol=1e-6)
    a.log_probs()  # once computed, the full log-probs serve the rows too
    assert torch.equal(a.probs(where), b.probs(where))
    with pytest.raises(ValueError, match="needs either"):
        TokenPosterior(x_t)
    with pytest.raises(ValueError, match="temperature"):
        TokenPosterior(x_t, logits=logits, process=process, temperature=0.0)


def test_pick_counts_and_searches_alike(monkeypatch):
    g = torch.Generator().manual_seed(3)
    p = torch.rand(500, 40, generator=g, dtype=torch.float64) * (torch.rand(500, 40, generator=g) < 0.5)
    p[:, 7] += 1e-3  # every row has mass
    cdf = p.cumsum(-1)
    r = torch.rand(500, 1, generator=g, dtype=torch.float64)
    r[:3] = torch.tensor([[2.0**-54], [1.0], [0.5]], dtype=torch.float64)
    counted = _pick(cdf, r * cdf[:, -1:])
    monkeypatch.setattr(numerics, "_COUNT_MAX_CLASSES", 0)
    searched = _pick(cdf, r * cdf[:, -1:])
    assert torch.equal(counted, searched)
    assert bool((p.gather(-1, counted[:, None]) > 0).all()), "a zero-mass class was picked"


def test_pick_never_lands_on_a_zero_mass_class():
    cdf = torch.tensor([[0.0, 0.0, 0.4, 0.4, 1.0, 1.0]], dtype=torch.float64)  # classes 0, 1, 3, 5 have no mass
    for r, want in ((2.0**-54, 2), (0.4, 2), (0.4 + 1e-12, 4), (1.0, 4)):
        assert int(_pick(cdf, torch.tensor([[r]], dtype=torch.float64))) == want, r
    probs = torch.tensor([0.0, 0.5, 0.0, 0.5, 0.0], dtype=torch.float64)
    draws = sample_categorical(probs.expand(5000, 5), torch.Generator().manual_seed(0))
    assert set(draws.unique().tolist()) == {1, 3}


def test_grid_step_is_the_reverse_step(process):
    x_t, logits = _state(process)
    post = TokenPosterior(x_t, logits=logits, process=process)
    times = torch.linspace(1, 0.01, 9, dtype=torch.float64)[:, None].expand(-1, B)
    step = process.grid_step(times)
    for i in range(8):
        a = step(x_t, post, i, torch.Generator().manual_seed(i))
        b = process.reverse_step(x_t, post, times[i], times[i + 1], torch.Generator().manual_seed(i))
        assert torch.equal(a, b)
    t, s = times[3], times[4]
    p = reveal_probability(process.schedule, t, s)  # linear schedule: (t - s) / t up to its tiny eps
    assert p.shape == (B, 1) and torch.allclose(p, ((t - s) / t)[:, None], atol=1e-3)
