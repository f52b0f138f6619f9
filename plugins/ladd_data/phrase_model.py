"""The generator of the ``phrases`` source as pure tensor math: a uniform mixture of ``C`` noisy phrases.

Class ``c`` has a phrase ``w_c`` of ``L`` token ids.  Given the class, every position is independent:
``q_cl(v) = (1 - noise) [v = w_cl] + noise u(v)`` with ``u`` a fixed background law over the data ids.
So ``log p(x) = logsumexp_c sum_l log q_cl(x_l) - log C`` exactly, and everything the ``phrases`` source
reports (entropy, the ideal factorized sampler's NLL) follows from ``w``, ``u`` and ``noise``.
:class:`PhraseModel` knows nothing about text, so tests can drive it with tiny phrase sets and alphabets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["Estimate", "PhraseModel"]

_CHUNK = 256  # rows scored at once: (C, chunk, L) float64 stays small


@dataclass(frozen=True)
class Estimate:
    """A Monte-Carlo estimate: ``value`` with its standard error ``stderr`` from ``n`` draws."""

    value: float
    stderr: float
    n: int


@dataclass
class PhraseModel:
    """Uniform mixture of noisy phrases.

    Attributes:
        phrases: ``(C, L)`` long, the phrase ids, each in ``[0, V)``.
        background: ``(V,)`` float64, the noise law ``u`` over the data ids (positive where it may emit).
        noise: probability that a position is a background draw instead of the phrase's id, in ``[0, 1)``.
        vocab_size: ids the tokenizer has (``>= V``); ids ``V ..`` (``<unk>``, ``<pad>``) have probability 0.
    """

    phrases: Tensor
    background: Tensor
    noise: float
    vocab_size: int
    log_q: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        c, length = self.phrases.shape
        v = self.background.numel()
        if not 0.0 <= self.noise < 1.0:
            raise ValueError(f"noise must be in [0, 1), got {self.noise}")
        if self.vocab_size < v or int(self.phrases.min()) < 0 or int(self.phrases.max()) >= v:
            raise ValueError(f"phrase ids must lie in [0, {v}) and vocab_size >= {v}")
        u = self.background.to(torch.float64)
        if (u < 0).any() or abs(float(u.sum()) - 1.0) > 1e-9:
            raise ValueError("background must be a probability vector")
        self.background = u
        q = self.noise * u.expand(c, length, v).clone()  # (C, L, V)
        q.scatter_add_(2, self.phrases[..., None], torch.full((c, length, 1), 1.0 - self.noise, dtype=torch.float64))
        self.log_q = torch.full((c, length, self.vocab_size), -math.inf, dtype=torch.float64)
        self.log_q[..., :v] = q.log()  # (C, L, vocab_size); -inf off the support

    @property
    def classes(self) -> int:
        return self.phrases.shape[0]

    @property
    def seq_len(self) -> int:
        return self.phrases.shape[1]

    # ------------------------------------------------------------------ scoring
    def _check(self, tokens: Tensor) -> None:
        if tokens.dim() != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(f"tokens must be (B, {self.seq_len}), got {tuple(tokens.shape)}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size})")

    def class_log_likelihood(self, tokens: Tensor, observed: Tensor | None = None) -> Tensor:
        """``log p(x_O | c)`` for every class, ``(B, C)`` float64; ``observed (B, L)`` bool (default: all)."""
        self._check(tokens)
        log_q = self.log_q.to(tokens.device)
        pos = torch.arange(self.seq_len, device=tokens.device)[None, :]  # (1, L)
        out = []
        for s in range(0, tokens.shape[0], _CHUNK):
            x = tokens[s : s + _CHUNK].long()
            per = log_q[:, pos, x]  # (C, b, L)
            if observed is not None:
                per = per.masked_fill(~observed[s : s + _CHUNK].bool()[None], 0.0)
            out.append(per.sum(-1).T)  # (b, C)
        if not out:
            return torch.zeros(0, self.classes, dtype=torch.float64, device=tokens.device)
        return torch.cat(out)

    def log_likelihood(self, tokens: Tensor) -> Tensor:
        """Exact ``log p(x)`` in nats, ``(B,)`` float64 (``-inf`` for impossible rows)."""
        return torch.logsumexp(self.class_log_likelihood(tokens), dim=1) - math.log(self.classes)

    def log_marginal(self, tokens: Tensor, observed: Tensor) -> Tensor:
        """Exact ``log p(x_O)`` in nats ``(B,)``: the unobserved positions sum to 1 under every class."""
        if observed.shape != tokens.shape:
            raise ValueError(f"observed {tuple(observed.shape)} must match tokens {tuple(tokens.shape)}")
        return torch.logsumexp(self.class_log_likelihood(tokens, observed), dim=1) - math.log(self.classes)

    def class_posterior(self, tokens: Tensor) -> Tensor:
        """``p(c | x)``, ``(B, C)`` float64 (rows of impossible sequences are NaN)."""
        return torch.softmax(self.class_log_likelihood(tokens), dim=1)

    # ----------------------------------------------------------------- sampling
    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` sequences ``(n, L)`` long and their classes ``(n,)``."""
        cls = torch.randint(0, self.classes, (n,), generator=generator)
        flip = torch.rand(n, self.seq_len, generator=generator, dtype=torch.float64) < self.noise  # (n, L)
        bg = torch.multinomial(self.background, n * self.seq_len, replacement=True, generator=generator)
        return torch.where(flip, bg.view(n, self.seq_len), self.phrases[cls]), cls

    def marginals(self) -> Tensor:
        """The exact per-position marginals ``p(x_l = v) = mean_c q_cl(v)``, ``(L, vocab_size)`` float64."""
        return self.log_q.exp().mean(0)

    def sample_factorized(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` draws ``(n, L)`` of the ideal factorized sampler: every position from its exact marginal.

        This is what a perfect MDLM produces at N = 1 (one step reveals all positions independently).
        """
        m = self.marginals()  # (L, V)
        return torch.multinomial(m, n, replacement=True, generator=generator).T.contiguous()  # (L, n) -> (n, L)

    # ---------------------------------------------------------------- reference
    def conditional_entropy(self) -> float:
        """Exact ``H(X | C)`` in nats per sequence: ``mean_c sum_l H(q_cl)``."""
        q = self.log_q.exp()
        plogp = torch.where(q > 0, q * self.log_q, torch.zeros_like(q))
        return float(-plogp.sum((1, 2)).mean())

    def entropy(self, n: int = 4096, seed: int = 0) -> Estimate:
        """``H(X)`` in nats per token, as ``[H(X|C) + log C - H(C|X)] / L``.

        ``H(X|C)`` and ``log C`` are exact; only the small ``H(C|X)`` (how ambiguous the class is after
        seeing the whole sequence) is a Monte-Carlo mean over ``n`` samples, so the standard error is
        tiny (it is 0 when the class is always recovered with certainty).
        """
        x, _ = self.sample(n, torch.Generator().manual_seed(seed))
        post = self.class_posterior(x)  # (n, C)
        h_post = -torch.where(post > 0, post * post.log(), torch.zeros_like(post)).sum(1)  # (n,)
        h = self.conditional_entropy() + math.log(self.classes) - float(h_post.mean())
        se = float(h_post.std()) / math.sqrt(n) if n > 1 else math.nan
        return Estimate(h / self.seq_len, se / self.seq_len, n)

    def entropy_mc(self, n: int = 4096, seed: int = 0) -> Estimate:
        """``H(X)`` in nats per token as the plain Monte-Carlo mean of ``-log p(x) / L`` over ``n`` samples."""
        x, _ = self.sample(n, torch.Generator().manual_seed(seed))
        nll = -self.log_likelihood(x) / self.seq_len
        return Estimate(float(nll.mean()), float(nll.std()) / math.sqrt(n), n)

    def factorized_nll(self, n: int = 4096, seed: int = 0) -> Estimate:
        """Expected true NLL in nats per token of the ideal factorized sampler (Monte Carlo over ``n`` draws)."""
        x = self.sample_factorized(n, torch.Generator().manual_seed(seed))
        nll = -self.log_likelihood(x) / self.seq_len
        return Estimate(float(nll.mean()), float(nll.std()) / math.sqrt(n), n)

    def factorized_ratio(self, n: int = 4096, seed: int = 0) -> Estimate:
        """The ideal factorized sampler's true-NLL ratio (its NLL over ``H(X)``, as ``true-nll-ratio`` reports).

        The class-conditional factorized sampler (each position from ``q_cl`` given the true class) is the
        data itself here: its ratio is exactly 1.0.
        """
        f, h = self.factorized_nll(n, seed), self.entropy(n, seed + 1)
        ratio = f.value / h.value
        se = ratio * math.hypot(f.stderr / f.value, h.stderr / h.value)
        return Estimate(ratio, se, n)
