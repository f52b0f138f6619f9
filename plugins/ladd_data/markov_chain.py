"""A variable-order character Markov chain with Witten–Bell smoothing: fit, stationary law, sampling, likelihood.

States are the distinct strings of length ``0 .. k`` seen in the corpus (``k`` = the order).
After a history ``h`` the chain is in state ``s(h)``, the longest suffix of ``h`` that is a state
(at most ``k`` symbols), and emits the next symbol with the smoothed probability

    ``p(x | s) = lam_s c(s, x) / n_s + (1 - lam_s) p(x | s')``,   ``lam_s = n_s / (n_s + u_s)``

(Witten–Bell interpolation): ``c(s, x)`` counts ``s`` followed by ``x`` in the corpus,
``n_s = sum_x c(s, x)``, ``u_s`` the number of distinct ``x`` seen after ``s``, ``s'`` the state
without its first symbol; below the empty state is the uniform law over the ``V`` symbols.
Every sequence of the ``V`` symbols thus has a positive probability, and the next state
``s(h x)`` is a function ``next_state[s, x]`` of the state alone, so the chain on states is
finite: its stationary law ``pi`` gives the exact entropy rate ``sum_s pi_s H(p(. | s))``.

A sequence starts in a state drawn from ``pi``.  After ``k`` symbols the state no longer
depends on the start state (it is a suffix of those ``k`` symbols), so the exact
likelihood sums over start states only for the first ``k`` symbols.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

from ladd_core.numerics import sample_categorical

__all__ = ["MarkovChain", "fit_markov_chain"]


@dataclass(frozen=True)
class MarkovChain:
    """A fitted chain over symbols ``0 .. V-1`` (numpy arrays, float64 probabilities).

    Attributes:
        order: ``k``, the longest context.
        probs: ``(S, V)`` ``p(x | s)``; rows sum to 1.
        next_state: ``(S, V)`` the state after emitting ``x`` in state ``s``.
        stationary: ``(S,)`` the stationary law ``pi`` of the states.
        lengths: ``(S,)`` the context length of each state (0 for the empty state, index 0).
    """

    order: int
    probs: np.ndarray
    next_state: np.ndarray
    stationary: np.ndarray
    lengths: np.ndarray

    @property
    def num_symbols(self) -> int:
        return int(self.probs.shape[1])

    @property
    def num_states(self) -> int:
        return int(self.probs.shape[0])

    @cached_property
    def log_probs(self) -> np.ndarray:
        """``(S, V)`` ``log p(x | s)`` (every entry finite: the smoothing reaches the uniform law)."""
        return np.log(self.probs)

    def entropy_rate(self) -> float:
        """Exact entropy rate ``sum_s pi_s H(p(. | s))`` in nats per symbol."""
        p = self.probs
        h = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)  # (S,)
        return float(self.stationary @ h)

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, length: int, generator: torch.Generator) -> Tensor:
        """``n`` sequences ``(n, length)`` long: a start state from ``pi``, then ``length`` symbols."""
        probs, nxt = torch.from_numpy(self.probs), torch.from_numpy(self.next_state)
        cdf = torch.from_numpy(np.cumsum(self.stationary))  # (S,) float64
        u = torch.rand(n, generator=generator, dtype=torch.float64) * cdf[-1]
        state = torch.searchsorted(cdf, u, right=True).clamp_max(self.num_states - 1)  # (n,)
        out = torch.empty(n, length, dtype=torch.long)
        for i in range(length):
            x = sample_categorical(probs[state], generator)  # (n,) float64 inverse CDF
            out[:, i] = x
            state = nxt[state, x]
        return out

    # ---------------------------------------------------------------- likelihood
    @cached_property
    def _after_first(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Law of (state after ``x_1``, ``x_1``) from a stationary start, as CSR over ``x_1``.

        Returns ``(indptr (V + 1,), states, weights)``: the states reachable by emitting ``x``
        and their masses ``sum_{s0 -> s} pi(s0) p(x | s0)``, summing to ``p(x_1 = x)``.
        """
        w = self.stationary[:, None] * self.probs  # (S, V)
        indptr, states, weights = [0], [], []
        for x in range(self.num_symbols):
            mass = np.bincount(self.next_state[:, x], weights=w[:, x], minlength=self.num_states)
            nz = np.flatnonzero(mass)
            states.append(nz)
            weights.append(mass[nz])
            indptr.append(indptr[-1] + len(nz))
        return np.asarray(indptr), np.concatenate(states), np.concatenate(weights)

    def log_likelihood(self, tokens: Tensor) -> Tensor:
        """Exact ``log p(x)`` in nats of each row of ``tokens (B, L)`` (``-inf`` for ids outside ``0 .. V-1``).

        ``p(x) = sum_s0 pi(s0) prod_i p(x_i | s_i)``.  The sum over start states is carried for the
        first ``min(k, L)`` symbols as (state, mass) pairs, starting from :attr:`_after_first`; after
        ``k`` symbols every start state has led to the same state and the rest is one product.
        """
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be (B, L), got {tuple(tokens.shape)}")
        x = tokens.detach().cpu().long()
        valid = ((x >= 0) & (x < self.num_symbols)).all(dim=1)  # (B,)
        x = torch.where(valid[:, None], x, torch.zeros_like(x)).numpy()
        b, length = x.shape
        out = np.zeros(b, dtype=np.float64)
        if length == 0:
            return torch.from_numpy(out)
        head = min(self.order, length)
        indptr, first_states, first_w = self._after_first
        cur = np.zeros(b, dtype=np.int64)
        for r in range(b):
            lo, hi = indptr[x[r, 0]], indptr[x[r, 0] + 1]
            states, w = first_states[lo:hi], first_w[lo:hi]
            for i in range(1, head):
                w = w * self.probs[states, x[r, i]]
                states = self.next_state[states, x[r, i]]
            out[r] = math.log(w.sum())
            cur[r] = states[0]  # one state once head == k; unused otherwise
        for i in range(head, length):  # reached only when head == k: the state is known
            out += self.log_probs[cur, x[:, i]]
            cur = self.next_state[cur, x[:, i]]
        res = torch.from_numpy(out)
        return torch.where(valid, res, torch.full_like(res, -math.inf))


def _gram_codes(ids: np.ndarray, j: int, base: int) -> np.ndarray:
    """Base-``V`` codes of every length-``j`` window of ``ids`` (first symbol most significant)."""
    n = len(ids) - j + 1
    code = np.zeros(max(n, 0), dtype=np.int64)
    for i in range(j):
        code = code * base + ids[i : i + n]
    return code


def fit_markov_chain(
    ids: np.ndarray, num_symbols: int, order: int, tol: float = 1e-9, max_iter: int = 5_000
) -> MarkovChain:
    """Fit the Witten–Bell chain of the module docstring to the symbol stream ``ids`` (ints in ``0 .. V-1``).

    Raises:
        ValueError: bad order, empty corpus, symbols out of range, or ``V ** order`` too large for int64 codes.
        RuntimeError: the stationary law did not converge within ``max_iter`` power iterations.
    """
    ids = np.asarray(ids, dtype=np.int64)
    v = num_symbols
    if order < 0 or len(ids) <= order:
        raise ValueError(f"need order >= 0 and a corpus longer than the order; got order {order}, {len(ids)} symbols")
    if v < 1 or ids.min() < 0 or ids.max() >= v:
        raise ValueError(f"symbols must lie in 0 .. {v - 1}")
    if (order + 1) * math.log2(v) >= 62:
        raise ValueError(f"{v} symbols ** order {order + 1} does not fit in int64 codes")
    # states of each length j (sorted codes) and their global offsets
    levels = [np.zeros(1, dtype=np.int64)] + [np.unique(_gram_codes(ids, j, v)) for j in range(1, order + 1)]
    offsets = np.cumsum([0] + [len(c) for c in levels])
    num_states = int(offsets[-1])
    probs = np.empty((num_states, v), dtype=np.float64)
    lengths = np.concatenate([np.full(len(c), j, dtype=np.int64) for j, c in enumerate(levels)])
    uniform = np.full((1, v), 1.0 / v)  # the law below the empty state
    for j, codes in enumerate(levels):
        grams = _gram_codes(ids, j + 1, v)  # contexts of length j followed by one symbol
        ctx, sym = grams // v, grams % v
        flat = np.searchsorted(codes, ctx) * v + sym
        counts = np.bincount(flat, minlength=len(codes) * v).reshape(len(codes), v).astype(np.float64)
        n = counts.sum(axis=1, keepdims=True)
        u = (counts > 0).sum(axis=1, keepdims=True)
        lam = np.divide(n, n + u, out=np.zeros_like(n), where=n > 0)
        ml = np.divide(counts, n, out=np.zeros_like(counts), where=n > 0)
        par = uniform if j == 0 else probs[offsets[j - 1] + np.searchsorted(levels[j - 1], codes % v ** (j - 1))]
        probs[offsets[j] : offsets[j + 1]] = lam * ml + (1 - lam) * par
    next_state = _next_states(levels, offsets, v, order)
    full = np.bincount(np.searchsorted(levels[-1], _gram_codes(ids, order, v)), minlength=len(levels[-1]))
    start = np.concatenate([np.zeros(num_states - len(levels[-1])), full.astype(np.float64)])
    stationary = _stationary(probs, next_state, start, tol, max_iter)
    return MarkovChain(order, probs, next_state, stationary, lengths)


def _next_states(levels: list[np.ndarray], offsets: np.ndarray, v: int, order: int) -> np.ndarray:
    """``(S, V)``: the longest suffix (length <= k) of ``state + x`` that is a state."""
    rows = []
    for j, codes in enumerate(levels):
        head = codes if j < order else codes % v ** max(order - 1, 0)  # a full state drops its first symbol
        cand = head[:, None] * v + np.arange(v)[None, :]  # (n_j, V) the string s x (at most k + 1 long)
        out = np.full(cand.shape, -1, dtype=np.int64)
        for m in range(min(j + 1, order), -1, -1):
            todo = out < 0
            if not todo.any():
                break
            suffix = cand[todo] % v**m
            pos = np.searchsorted(levels[m], suffix).clip(max=len(levels[m]) - 1)
            hit = levels[m][pos] == suffix
            idx = np.flatnonzero(todo)[hit]
            out.flat[idx] = offsets[m] + pos[hit]
        rows.append(out)
    return np.concatenate(rows)


def _stationary(probs: np.ndarray, next_state: np.ndarray, start: np.ndarray, tol: float, max_iter: int) -> np.ndarray:
    """Power iteration ``pi <- pi P`` from ``start`` (the corpus' state frequencies) to an L1 change below ``tol``."""
    pi = start / start.sum()
    dst = next_state.ravel()
    for _ in range(max_iter):
        new = np.bincount(dst, weights=(pi[:, None] * probs).ravel(), minlength=len(pi))
        new /= new.sum()
        if np.abs(new - pi).sum() < tol:
            return new
        pi = new
    raise RuntimeError(f"the stationary law did not converge in {max_iter} iterations")
