r"""Exact reference computations for masked (absorbing) diffusion on tiny enumerable spaces.

Setting.  ``P`` positions; position ``p`` holds a value in ``0 .. A_p - 1`` or its mask id
``A_p`` (tokens: ``A_p = V``, the mask id of the ``masked`` process; VQ codes: ``A_p = C``).
The forward process masks every position independently with keep probability
``alpha_p(t)``.  A *denoiser* is a time-independent table ``table[s, p, v] = p(x_0^p = v | x_t = s)``
over every joint state ``s`` (masks included), e.g. a random "model" or the true conditionals.

The model's own finite-step generative process on a grid ``1 = t_0 > t_1 > ... > t_N`` (a
sampler's grid): start from the all-mask state; at step ``i`` each masked position is revealed
with probability ``r_ip = (alpha_p(t_{i+1}) - alpha_p(t_i)) / (1 - alpha_p(t_i))`` and then takes
value ``v`` with probability ``table[s, p, v]``; a final noise-removal step reveals every mask
left.  :func:`generative_marginal` sums over all trajectories (a forward pass over the
``prod_p (A_p + 1)`` states), giving ``p_N(x)`` exactly.

Bounds.  :func:`discrete_nelbo` is the discrete-time diffusion ELBO of that very process::

    NELBO_N(x0) = KL(q(x_{t_0}|x0) || all-mask)
                + sum_i E_{q(x_{t_i}|x0)} KL(q(x_{t_{i+1}}|x_{t_i}, x0) || p(x_{t_{i+1}}|x_{t_i}))
                + E_{q(x_{t_N}|x0)} [-log p(x0 | x_{t_N})]            >=  -log p_N(x0)

(the first term is ``inf`` unless every ``alpha_p(t_0) = 0``).  As ``N`` grows it tends to the
continuous-time NELBO ``int_0^1 sum_p w_p(t) E_q[-log table[x_t, p, x0_p] ; p masked] dt`` with
``w_p = -alpha_p' / (1 - alpha_p)``.  With one shared schedule the substitution ``a = alpha(t)``
makes it schedule-free (:func:`continuous_nelbo`)::

    sum over mask patterns M:  nll(M) * int_{alpha(1)}^{alpha(0)} a^{P-|M|} (1-a)^{|M|-1} da

which, for ``alpha: 1 -> 0``, is the expected any-order autoregressive NLL; with the true
conditionals (:func:`true_table`) it equals ``-log p_data(x0)`` for every ``x0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = [
    "MaskedSpace",
    "continuous_nelbo",
    "discrete_nelbo",
    "entropy",
    "expected_over_masks",
    "generative_marginal",
    "pattern_probs",
    "random_table",
    "reveal_probs",
    "tanh_sinh",
    "transition",
    "true_table",
]


class MaskedSpace:
    """The joint states of ``P`` positions with alphabet sizes ``sizes`` (mask id of position ``p``: ``sizes[p]``).

    Attributes:
        states: ``(S, P)`` long, every state, masks included, in :meth:`index` order.
        clean_states: ``(S0, P)`` the states without masks (the support of ``p_N``), in :meth:`clean_index` order.
        patterns: ``(2**P, P)`` bool, every mask pattern.
    """

    def __init__(self, sizes: Sequence[int]) -> None:
        if not sizes or min(sizes) < 1:
            raise ValueError(f"sizes must be a non-empty list of positive ints, got {list(sizes)}")
        self.sizes = tuple(int(a) for a in sizes)
        self.P, self.A = len(self.sizes), max(self.sizes)
        self.mask_ids = torch.tensor(self.sizes)  # (P,)
        self.states = self._product([a + 1 for a in self.sizes])  # (S, P)
        self.clean_states = self._product(list(self.sizes))  # (S0, P)
        self.patterns = self._product([2] * self.P).bool()  # (2^P, P)
        radix = [1] * self.P
        clean_radix = [1] * self.P
        for p in range(self.P - 2, -1, -1):
            radix[p] = radix[p + 1] * (self.sizes[p + 1] + 1)
            clean_radix[p] = clean_radix[p + 1] * self.sizes[p + 1]
        self.radix, self.clean_radix = torch.tensor(radix), torch.tensor(clean_radix)

    @staticmethod
    def _product(ranges: list[int]) -> Tensor:
        grids = torch.meshgrid(*[torch.arange(n) for n in ranges], indexing="ij")
        return torch.stack([g.reshape(-1) for g in grids], dim=-1)  # (prod, P), last position fastest

    def index(self, states: Tensor) -> Tensor:
        """Row of ``states (..., P)`` in :attr:`states`."""
        return (states.long() * self.radix.to(states.device)).sum(-1)

    def clean_index(self, clean: Tensor) -> Tensor:
        """Row of mask-free ``clean (..., P)`` in :attr:`clean_states`."""
        return (clean.long() * self.clean_radix.to(clean.device)).sum(-1)

    def is_masked(self, states: Tensor) -> Tensor:
        """``(..., P)`` bool."""
        return states == self.mask_ids.to(states.device)

    def masked(self, x0: Tensor, patterns: Tensor | None = None) -> Tensor:
        """``x0 (P,)`` with each pattern's positions masked: ``(M, P)`` (default: every pattern)."""
        patterns = self.patterns if patterns is None else patterns
        return torch.where(patterns, self.mask_ids, x0.long()[None, :])


def reveal_probs(alpha_t: Tensor, alpha_s: Tensor) -> Tensor:
    """``(alpha_s - alpha_t) / (1 - alpha_t)`` (0 where ``alpha_t = 1``), clipped to ``[0, 1]``."""
    a_t, a_s = alpha_t.double(), alpha_s.double()
    den = 1.0 - a_t
    r = torch.where(den > 0, (a_s - a_t) / den.clamp_min(1e-300), torch.zeros_like(a_t))
    return r.clamp(0.0, 1.0)


def pattern_probs(alpha: Tensor, patterns: Tensor) -> Tensor:
    """``q(pattern)`` for keep probabilities ``alpha (..., P)`` and ``patterns (M, P)``: ``(..., M)``.

    ``alpha`` is clipped to ``[0, 1]`` (a schedule overshooting 1 by rounding must not give negative masses).
    """
    a = alpha.double().clamp(0.0, 1.0)[..., None, :]  # (..., 1, P)
    m = patterns.double()  # (M, P)
    return (a ** (1 - m) * (1 - a) ** m).prod(-1)


def random_table(space: MaskedSpace, generator: torch.Generator, scale: float = 1.5) -> Tensor:
    """A random denoiser ``(S, P, A)``: ``softmax(scale * N(0, 1))`` over each position's own alphabet."""
    logits = scale * torch.randn(len(space.states), space.P, space.A, generator=generator, dtype=torch.float64)
    valid = torch.arange(space.A)[None, :] < space.mask_ids[:, None]  # (P, A)
    return torch.softmax(logits.masked_fill(~valid, float("-inf")), dim=-1)


def true_table(space: MaskedSpace, p_data: Tensor) -> Tensor:
    """The true conditionals ``p_data(x_0^p = v | unmasked part of s)`` as a table ``(S, P, A)``.

    Args:
        space: the state space.
        p_data: ``(S0,)`` probabilities of :attr:`MaskedSpace.clean_states` (strictly positive).
    """
    s, c = space.states, space.clean_states  # (S, P), (S0, P)
    consistent = (space.is_masked(s)[:, None, :] | (s[:, None, :] == c[None, :, :])).all(-1)  # (S, S0)
    w = consistent.double() * p_data.double()[None, :]  # (S, S0)
    onehot = torch.nn.functional.one_hot(c, space.A).double()  # (S0, P, A)
    marg = torch.einsum("sc,cpa->spa", w, onehot)
    return marg / marg.sum(-1, keepdim=True)


def transition(space: MaskedSpace, table: Tensor, r: Tensor) -> Tensor:
    """One reverse step as a matrix ``T[s, s'] = p(s' | s)`` ``(S, S)`` for reveal probabilities ``r (P,)``.

    Per position: a value stays; a mask stays with probability ``1 - r_p`` or becomes ``v`` with
    probability ``r_p * table[s, p, v]``.  Positions move independently given ``s``.
    """
    s = space.states
    masked = space.is_masked(s)  # (S, P)
    r = r.double()
    dist = torch.zeros(len(s), space.P, space.A + 1, dtype=torch.float64)  # (S, P, values incl. mask slot)
    dist[..., : space.A] = r[None, :, None] * table.double()  # reveal
    p_idx = torch.arange(space.P)
    dist[:, p_idx, space.mask_ids] = (1.0 - r)[None, :].expand(len(s), -1)  # stay masked
    stay = torch.nn.functional.one_hot(s, space.A + 1).double()  # (S, P, A+1) an unmasked value stays
    dist = torch.where(masked[..., None], dist, stay)
    step = dist[:, p_idx[None, :], s]  # (S, S', P): dist[s, p, s'_p]
    return step.prod(-1)


def generative_marginal(space: MaskedSpace, table: Tensor, alpha_grid: Tensor) -> Tensor:
    """``p_N`` over :attr:`MaskedSpace.clean_states` ``(S0,)`` of the finite-step process on ``alpha_grid``.

    Args:
        space: the state space.
        table: ``(S, P, A)`` denoiser.
        alpha_grid: ``(N + 1, P)`` keep probabilities of each position at the grid times ``t_0 > ... > t_N``.
    """
    dist = torch.zeros(len(space.states), dtype=torch.float64)
    dist[space.index(space.mask_ids)] = 1.0  # all-mask start
    for i in range(alpha_grid.shape[0] - 1):
        dist = dist @ transition(space, table, reveal_probs(alpha_grid[i], alpha_grid[i + 1]))
    dist = dist @ transition(space, table, torch.ones(space.P))  # noise removal
    return dist[space.index(space.clean_states)]


def _nll(space: MaskedSpace, table: Tensor, x0: Tensor) -> tuple[Tensor, Tensor]:
    """``(-log table[x0 masked by pattern m, p, x0_p]`` at masked ``p`` else 0 ``(M, P)``, patterns ``(M, P)``)."""
    states = space.masked(x0)  # (M, P)
    tab = table.double()[space.index(states)]  # (M, P, A)
    p_true = tab.gather(-1, x0.long()[None, :, None].expand(len(states), -1, 1)).squeeze(-1)  # (M, P)
    nll = torch.where(space.patterns, -p_true.clamp_min(1e-300).log(), torch.zeros_like(p_true))
    return nll, space.patterns


def discrete_nelbo(space: MaskedSpace, table: Tensor, alpha_grid: Tensor, x0: Tensor) -> Tensor:
    """The discrete-time NELBO of the process of :func:`generative_marginal` at ``x0 (P,)`` (nats, float64 scalar).

    Each step's KL is written out from the two per-position distributions: the forward
    posterior ``q(x_s^p | x_t^p = mask, x_0)`` = (stay ``1 - r``, reveal ``x0_p`` ``r``) and the model
    ``p(x_s^p | x_t)`` = (stay ``1 - r``, reveal ``v`` ``r * table[., p, v]``).
    """
    if (alpha_grid[0] > 0).any():
        return torch.tensor(math.inf, dtype=torch.float64)  # the all-mask prior cannot explain q(x_{t_0})
    nll, patterns = _nll(space, table, x0)  # (M, P)
    p_true = torch.exp(-nll)  # (M, P), 1 at unmasked positions
    r = reveal_probs(alpha_grid[:-1], alpha_grid[1:])  # (N, P)
    q = pattern_probs(alpha_grid[:-1], patterns)  # (N, M)
    rr = r[:, None, :]  # (N, 1, P)
    kl = torch.xlogy(rr, rr) - torch.xlogy(rr, rr * p_true[None])  # (N, M, P); stay terms cancel
    steps = (q[..., None] * kl * patterns[None].double()).sum()
    decoder = (pattern_probs(alpha_grid[-1], patterns) * nll.sum(-1)).sum()
    return steps + decoder


def continuous_nelbo(
    space: MaskedSpace, table: Tensor, x0: Tensor, alpha_lo: float = 0.0, alpha_hi: float = 1.0
) -> Tensor:
    """Continuous-time NELBO at ``x0`` for one schedule shared by all positions (``alpha``: ``alpha_hi -> alpha_lo``).

    Exact: ``sum_M nll(M) int_{alpha_lo}^{alpha_hi} a^u (1 - a)^{k-1} da`` (``k = |M|``, ``u = P - k``),
    the polynomial integrated term by term.
    """
    nll, patterns = _nll(space, table, x0)
    total = torch.zeros((), dtype=torch.float64)
    for m in range(len(patterns)):
        k = int(patterns[m].sum())
        if k == 0:
            continue
        u = space.P - k
        integral = sum(
            math.comb(k - 1, j) * (-1) ** j * (alpha_hi ** (u + j + 1) - alpha_lo ** (u + j + 1)) / (u + j + 1)
            for j in range(k)
        )
        total = total + nll[m].sum() * integral
    return total


def expected_over_masks(space: MaskedSpace, x0: Tensor, alphas: Tensor, fn: Callable[[Tensor, int], Tensor]) -> Tensor:
    """``E_{x_t ~ q(. | x0)}[fn]`` at each of ``T`` noise levels, by enumerating mask patterns.

    Args:
        space: the state space.
        x0: ``(P,)`` clean state.
        alphas: ``(T, P)`` keep probabilities.
        fn: ``fn(states (T * M, P), M)`` -> ``(T * M,)`` values; row ``j * M + m`` is node ``j``, pattern ``m``.

    Returns:
        ``(T,)``.
    """
    states = space.masked(x0)  # (M, P)
    m = len(states)
    q = pattern_probs(alphas, space.patterns)  # (T, M)
    vals = fn(states.repeat(alphas.shape[0], 1), m).double().reshape(alphas.shape[0], m)  # (T, M)
    return (q * vals).sum(-1)


def tanh_sinh(n: int = 60, x_max: float = 3.0) -> tuple[Tensor, Tensor, Tensor]:
    """Tanh-sinh (double-exponential) quadrature on ``[0, 1]``: ``(t, 1 - t, weights)``, each ``(2n + 1,)``.

    Robust to integrable algebraic endpoint singularities (``1/sqrt(1 - t)`` of the ``sqrt``
    schedule); ``t`` and ``1 - t`` are both computed without cancellation.
    """
    h = x_max / n
    x = torch.arange(-n, n + 1, dtype=torch.float64) * h
    z = math.pi * torch.sinh(x)
    t, one_minus_t = torch.sigmoid(z), torch.sigmoid(-z)
    w = h * math.pi * torch.cosh(x) * t * one_minus_t
    return t, one_minus_t, w


def entropy(p: Tensor) -> Tensor:
    """Shannon entropy in nats of a probability vector."""
    p = p.double()
    return -(torch.xlogy(p, p)).sum()
