"""One uniform reveals and draws: ``categorical_index`` past 1, ``TokenPosterior.pick`` (dense, by rows, and its
fallback where ``exp`` of the raw logits over- or underflows), and the plain-callable path of the absorbing steps."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare

from ladd_core.build import build_component
from ladd_core.components.absorbing import posterior_step, remasking_move, sparse_categorical
from ladd_core.config.experiment import validate_config
from ladd_core.numerics import NonFiniteError, categorical_index, uniform
from ladd_core.posterior import TokenPosterior

V = 4
N = 40_000


@pytest.fixture()
def process(components):
    cfg = validate_config({}, components)
    return build_component(components, "token_process", cfg.model.token_process, vocab_size=V)


def _close(frac: float, p: float, n: int) -> bool:
    return abs(frac - p) <= 6 * (p * (1 - p) / n) ** 0.5 + 1e-12


def test_categorical_index_reveals_with_probability_p_and_draws_the_class_with_the_same_uniform():
    weights = torch.tensor([[0.0, 2.0, 0.0, 6.0]], dtype=torch.float64).expand(N, 4)  # classes 1, 3: 1/4, 3/4
    p = 0.3
    u = uniform((N,), torch.Generator().manual_seed(0), torch.device("cpu"))
    idx, total = categorical_index(weights, u / p)
    assert torch.equal(total, torch.full((N, 1), 8.0, dtype=torch.float64))
    drawn = idx < 4
    assert torch.equal(idx[~drawn], torch.full_like(idx[~drawn], 4)), "w > 1 gives the index C, no class"
    assert _close(float(drawn.double().mean()), p, N)
    assert set(idx[drawn].unique().tolist()) == {1, 3}, "a zero-weight class is never drawn"
    n = int(drawn.sum())
    assert _close(float((idx[drawn] == 3).double().mean()), 0.75, n)


def test_categorical_index_edges_and_bad_rows():
    w = torch.tensor([[1.0, 0.0, 3.0]], dtype=torch.float64)
    cases = [(2.0**-54, 0), (0.25, 0), (0.25 + 1e-12, 2), (1.0, 2), (1.0 + 1e-9, 3), (float("inf"), 3)]
    for v, want in cases:
        assert int(categorical_index(w, torch.tensor([v], dtype=torch.float64))[0]) == want, v
    for bad in ([0.0, 0.0], [float("nan"), 1.0], [float("inf"), 1.0]):
        with pytest.raises(NonFiniteError):
            categorical_index(torch.tensor([bad], dtype=torch.float64), torch.tensor([0.5], dtype=torch.float64))


@pytest.mark.parametrize("dense", [True, False])
def test_pick_fills_past_one_and_draws_the_softmax_below(process, dense):
    logits = torch.tensor([0.0, 1.0, -1.0, 2.0, 5.0]).expand(1, N, V + 1)  # the mask column (last) never drawn
    x_t = torch.full((1, N), process.mask_id)
    post = TokenPosterior(x_t, logits=logits, process=process, dense=dense)
    u = uniform((1, N), torch.Generator().manual_seed(1), torch.device("cpu"))
    ids = post.pick(u / 0.5, x_t == process.mask_id, process.mask_id)
    assert _close(float((ids == process.mask_id).double().mean()), 0.5, N)
    kept = ids[ids != process.mask_id]
    want = torch.softmax(logits[0, 0, :V].double(), -1)
    assert chisquare(torch.bincount(kept, minlength=V).double(), want * len(kept)).pvalue > 1e-3


def test_pick_dense_and_by_rows_give_the_same_ids(process):
    g = torch.Generator().manual_seed(2)
    logits = 3 * torch.randn(3, 50, V + 1, generator=g)
    x_t = torch.where(torch.rand(3, 50, generator=g) < 0.6, process.mask_id, torch.randint(0, V, (3, 50), generator=g))
    where = x_t == process.mask_id
    w = uniform((3, 50), g, torch.device("cpu")) / 0.7
    dense = TokenPosterior(x_t, logits=logits, process=process, dense=True).pick(w, where, process.mask_id)
    rows = TokenPosterior(x_t, logits=logits, process=process, dense=False).pick(w, where, process.mask_id)
    assert torch.equal(dense[where], rows[where])
    assert bool(((dense[where] < V) == (w[where] <= 1)).all())


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("shift", [800.0, -800.0])
def test_pick_falls_back_where_exp_of_the_raw_logits_is_not_finite(process, dense, shift):
    """exp(800) overflows and exp(-800) underflows in float64; the draw must still be the softmax."""
    logits = (torch.tensor([0.0, -1.0, 1.0, -30.0, 0.0]) + shift).expand(1, N, V + 1)
    x_t = torch.full((1, N), process.mask_id)
    post = TokenPosterior(x_t, logits=logits, process=process, dense=dense)
    out, probs = post.sample(x_t, x_t == process.mask_id, torch.Generator().manual_seed(4), with_probs=True)
    want = torch.softmax(logits[0, 0, :V].double() - shift, -1)
    counts = torch.bincount(out[0], minlength=V + 1).double()
    assert counts[V] == 0
    keep = want > 1e-9
    n = counts[:V][keep].sum()
    assert chisquare(counts[:V][keep], want[keep] / want[keep].sum() * n).pvalue > 1e-3
    assert torch.allclose(probs[0], want[out[0]], rtol=1e-5), "with_probs after the fallback"


def test_pick_raises_on_nan_logits(process):
    logits = torch.zeros(1, 6, V + 1)
    logits[0, 2, 1] = float("nan")
    x_t = torch.full((1, 6), process.mask_id)
    with pytest.raises(NonFiniteError, match="denoiser logits"):
        TokenPosterior(x_t, logits=logits, process=process).pick(torch.full((1, 6), 0.5, dtype=torch.float64),
                                                                  x_t == process.mask_id, process.mask_id)  # fmt: skip


def _plain(draw):
    """The same draw without ``pick``: the steps take their plain-callable path."""
    return lambda state, where: draw(state, where)


@pytest.mark.parametrize("plain", [False, True])
def test_posterior_step_paths_reveal_with_p_and_draw_the_posterior(plain):
    state = torch.full((1, N), 3)
    lp = torch.tensor([0.2, 0.5, 0.3]).log().expand(1, N, 3)
    g = torch.Generator().manual_seed(0)
    draw = sparse_categorical(lp, g)
    new = posterior_step(state, 3, torch.tensor([[0.4]], dtype=torch.float64), _plain(draw) if plain else draw, g)
    revealed = new != 3
    assert _close(float(revealed.double().mean()), 0.4, N)
    n = int(revealed.sum())
    assert (
        chisquare(
            torch.bincount(new[revealed], minlength=3).double(), torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64) * n
        ).pvalue
        > 1e-3
    )


@pytest.mark.parametrize("plain", [False, True])
def test_remasking_move_paths_remask_with_sigma_and_reveal_with_p(plain):
    half = N // 2
    state = torch.cat([torch.full((1, half), 3), torch.full((1, half), 1)], dim=1)  # masked, then revealed ids
    frozen = torch.zeros(1, N, dtype=torch.bool)
    frozen[0, -100:] = True
    lp = torch.tensor([0.2, 0.5, 0.3]).log().expand(1, N, 3)
    g = torch.Generator().manual_seed(6)
    draw = sparse_categorical(lp, g)
    sigma, p = torch.tensor([[0.1]], dtype=torch.float64), torch.tensor([[0.35]], dtype=torch.float64)
    new = remasking_move(state, 3, sigma, p, _plain(draw) if plain else draw, g, frozen)
    assert _close(float((new[0, :half] != 3).double().mean()), 0.35, half)
    assert _close(float((new[0, half:-100] == 3).double().mean()), 0.1, half - 100)
    assert (new[0, -100:] == 1).all(), "frozen ids are never re-masked"
    assert set(new[0, half:].unique().tolist()) <= {1, 3}, "revealed ids are kept or re-masked, never redrawn"


def test_probs_fall_back_where_exp_of_the_raw_logits_overflows(process):
    logits = torch.tensor([[[800.0, 799.0, 0.0, -5.0, 0.0], [0.0, 1.0, 2.0, 3.0, 0.0]]])  # (1, 2, V + 1)
    x_t = torch.full((1, 2), process.mask_id)
    p = TokenPosterior(x_t, logits=logits, process=process).probs()
    want = torch.softmax(logits[..., :V].double(), -1)
    assert torch.allclose(p[..., :V], want, atol=1e-6) and float(p[..., V:].sum()) < 1e-9


@pytest.mark.parametrize("dense", [True, False])
def test_candidates_are_what_sample_draws_with_their_probabilities(process, dense):
    g = torch.Generator().manual_seed(8)
    logits = 2 * torch.randn(2, 30, V + 1, generator=g)
    x_t = torch.where(torch.rand(2, 30, generator=g) < 0.5, process.mask_id, torch.randint(0, V, (2, 30), generator=g))
    where = x_t == process.mask_id
    post = TokenPosterior(x_t, logits=logits, process=process, dense=dense)
    ids, probs = post.candidates(where, torch.Generator().manual_seed(9))
    out, drawn = post.sample(x_t, where, torch.Generator().manual_seed(9), with_probs=True)
    assert torch.equal(ids[where], out[where]) and torch.equal(out[~where], x_t[~where])
    want = torch.softmax(logits[..., :V].double(), -1).gather(-1, ids[..., None].clamp_max(V - 1))[..., 0]
    assert torch.allclose(probs[where], want[where]) and torch.equal(probs[where], drawn[where])
    assert bool((ids[where] < V).all())
