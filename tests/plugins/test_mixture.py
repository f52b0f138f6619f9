"""The ``mixture`` data source: a discrete hidden cause with an exact likelihood."""

from __future__ import annotations

import itertools

import torch

from ladd_data.mixture import Mixture


def _source(**kw) -> Mixture:
    return Mixture(Mixture.Config(seq_len=kw.pop("seq_len", 8), train_size=64, val_size=32, **kw))


def test_likelihood_is_normalised_over_every_sequence() -> None:
    src = _source(classes=3)
    every = torch.tensor(list(itertools.product([0, 1], repeat=8)))  # (256, 8)
    total = torch.logsumexp(src.log_likelihood(every), dim=0)
    assert abs(float(total)) < 1e-10


def test_samples_follow_the_likelihood() -> None:
    src = _source(classes=2, seq_len=4)
    x, cls = src.sample(40_000, seed=1)
    assert set(cls.tolist()) == {0, 1}
    codes = (x * torch.tensor([8, 4, 2, 1])).sum(1)
    freq = torch.bincount(codes, minlength=16).double() / x.shape[0]
    every = torch.tensor(list(itertools.product([0, 1], repeat=4)))
    expected = src.log_likelihood(every).exp()
    assert torch.allclose(freq, expected, atol=0.01)


def test_batches_are_reproducible_and_fresh_per_epoch() -> None:
    a, b = _source(), _source()
    e0 = [bt.tokens for bt in a.train_batches(16, epoch=0)]
    assert all(torch.equal(x, y.tokens) for x, y in zip(e0, b.train_batches(16, epoch=0)))
    e1 = [bt.tokens for bt in a.train_batches(16, epoch=1)]
    assert not all(torch.equal(x, y) for x, y in zip(e0, e1))
    assert torch.equal(next(iter(a.val_batches(8))).tokens, next(iter(b.val_batches(8))).tokens)


def test_profiles_depend_on_profile_seed_only() -> None:
    assert torch.equal(_source(profile_seed=3).profiles, _source(profile_seed=3).profiles)
    assert not torch.equal(_source(profile_seed=3).profiles, _source(profile_seed=4).profiles)
    p = _source(floor=0.05).profiles
    assert float(p.min()) >= 0.05 and float(p.max()) <= 0.95
