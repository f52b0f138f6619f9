"""Samplers run under ``torch.inference_mode``; what they return and what they cache stays usable for training."""

from __future__ import annotations

import pytest
import torch

from ladd_core.build import build_sampler
from ladd_core.plugins import load_plugins
from ladd_core.testing.toys import build_tiny_model, validate_component

COMPS = load_plugins()


@pytest.mark.parametrize("sampler", ["ancestral", "maskgit", "remdm"])
def test_samples_are_plain_tensors_and_training_works_after_sampling(sampler: str) -> None:
    # a sequence length no other test uses, so the RoPE table is first built inside the sampler's inference mode
    tm = build_tiny_model(COMPS, {"name": "none"}, vocab_size=3, seq_len=13)
    model = tm.model.eval()
    cfg = validate_component(COMPS, "sampler", {"name": sampler, "steps": 4})
    out = build_sampler(COMPS, cfg).sample(model, 2, generator=torch.Generator().manual_seed(0))
    assert not out.tokens.is_inference()
    out.tokens[0, 0] = 1  # an inference tensor would refuse this outside inference mode
    model.train()
    logits = model.backbone(out.tokens, None, torch.rand(2), None, None).token_logits  # (2, 13, C)
    logits.square().mean().backward()  # fails if a cached table is an inference tensor saved for backward
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
