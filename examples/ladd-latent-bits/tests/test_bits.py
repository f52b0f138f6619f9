"""What is specific to the bits channel: straight-through gradients, the entropy term, the preset."""

import torch

from ladd_core.config.experiment import validate_config
from ladd_core.testing.toys import build_tiny_model, jiggle, tiny_config


def test_the_token_loss_trains_the_encoder_through_the_bits(ladd_components, tiny_batch):
    tm = build_tiny_model(ladd_components, tiny_config(ladd_components, "latent", "bits", {"latent_weight": 0.0}))
    model = tm.model.train()
    jiggle(model.backbone)  # the zero-initialised heads of a fresh backbone pass no gradient back
    model.loss(tiny_batch, torch.Generator().manual_seed(0)).loss.backward()
    grads = [p.grad for p in model.latent.encoder.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads), "no straight-through gradient reached the encoder"


def test_bernoulli_bits_subtract_their_exact_entropy(ladd_components, tiny_batch):
    data = tiny_config(ladd_components, "latent", "bits", {"estimator": "bernoulli"})
    model = build_tiny_model(ladd_components, data).model.eval()
    latent = model.latent
    logits = latent.encode_latent(tiny_batch.tokens, tiny_batch.tokens, tiny_batch.attention_mask, 1, None).aux
    p = torch.sigmoid(logits)
    entropy = -(p * p.log() + (1 - p) * (1 - p).log()).sum((1, 2))
    assert (entropy > 0).all()
    out = model.loss(tiny_batch, torch.Generator().manual_seed(1))
    assert out.latent_nelbo is not None and torch.isfinite(out.latent_nelbo).all()


def test_the_preset_validates_with_both_latent_samplers(ladd_components):
    from ladd_latent_bits.presets import SAWTOOTH_BITS

    for sampler in ("joint", "sequential"):
        cfg = validate_config({**SAWTOOTH_BITS, "sampler": {"name": sampler}}, ladd_components)
        assert cfg.model.latent.name == "bits"
