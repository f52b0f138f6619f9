"""The sawtooth's exact marginals and the ``prompt-nll`` metric of the conditional task."""

from __future__ import annotations

import pytest
import torch

from ladd_core.components.metrics import EvalContext
from ladd_core.conditioning import Condition
from ladd_data.sawtooth import Sawtooth
from ladd_metrics.conditional import PromptNLL, completion_nll_bits


@pytest.fixture(scope="module")
def saw(tmp_path_factory):
    cfg = Sawtooth.Config(seq_len=12, val_size=256, grid_points=512)
    return Sawtooth(cfg, seed=0, work_dir=tmp_path_factory.mktemp("saw"))


def _val(saw, n):
    return next(iter(saw.val_batches(n))).tokens


def test_marginals_sum_out_unobserved_positions_exactly(saw):
    x = _val(saw, 8)
    all_obs = torch.ones_like(x, dtype=torch.bool)
    torch.testing.assert_close(saw.log_marginal(x, all_obs), saw.log_likelihood(x))
    assert torch.equal(saw.log_marginal(x, torch.zeros_like(all_obs)), torch.zeros(8, dtype=torch.float64))
    # p(x_O) = sum over the value of one more position j of p(x_O, x_j)
    obs = torch.zeros_like(all_obs)
    obs[:, :4] = True
    with_j = obs.clone()
    with_j[:, 7] = True
    both = []
    for v in (0, 1):
        xv = x.clone()
        xv[:, 7] = v
        both.append(saw.log_marginal(xv, with_j))
    torch.testing.assert_close(torch.logsumexp(torch.stack(both), 0), saw.log_marginal(x, obs))


def test_prompt_nll_of_real_continuations_is_the_conditional_entropy(saw):
    x = _val(saw, 256)
    vis = torch.zeros_like(x, dtype=torch.bool)
    vis[:, :4] = True
    cond = Condition(x.clone(), vis)
    ctx = EvalContext(saw, None, prompt=cond, prompt_reference=x.clone())
    out = PromptNLL(PromptNLL.Config()).compute(x, ctx)
    assert out["prompt-nll-ratio"].value == pytest.approx(1.0)
    assert 0.0 < out["prompt-entropy"].value < 1.0
    # a completion ignoring its prompt (another sequence's continuation) is less likely
    other = torch.cat([x[:, :4], x.roll(1, 0)[:, 4:]], dim=1)
    worse = PromptNLL(PromptNLL.Config()).compute(other, ctx)
    assert worse["prompt-nll"].value > out["prompt-nll"].value + 0.05
    bits = completion_nll_bits(ctx, x, cond)
    manual = (saw.log_marginal(x, vis) - saw.log_likelihood(x)) / (
        8 * torch.log(torch.tensor(2.0, dtype=torch.float64))
    )
    torch.testing.assert_close(bits, manual)
