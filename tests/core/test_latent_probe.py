"""What the sampler sees: the probe at the sampler's operating point, the clean latent, the grid, the plumbing check.

On d8710d4 the all-mask probe of a joint, tied-clock Co-LADD noised the latent to ``t_y = t_x = 1`` and read
"gain 0.000" by construction, with no way to ask what the clean latent is worth or where a sampler reads it.
"""

from __future__ import annotations

import pytest
import torch

from ladd_core.build import build_sampler
from ladd_core.diagnostics import GRID_T_X, GRID_T_Y, assess, grid_key, latent_health
from ladd_core.testing.plumbing import OracleEncoder, check_latent_plumbing, random_sequences
from ladd_core.testing.toys import build_tiny_model, validate_component

ENC = {"name": "transformer", "num_slots": 2, "dim": 4, "hidden": 8, "layers": 1, "heads": 2}
BB = {"name": "mmdit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8}
DEN = {"name": "latent-dit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8}


def _oracle_reader(components, *, sequential: bool):
    """A Co-LADD model (joint tied clocks, or sequential) whose token network reads the oracle latent."""
    tm = build_tiny_model(
        components,
        {"name": "gaussian", "encoder": ENC},
        vocab_size=2,
        seq_len=4,
        with_denoiser=sequential,
        backbone=BB,
        latent_denoiser=DEN if sequential else None,
    )
    return tm


def _read_time(components, tm, sampler: dict) -> float | None:
    scfg = validate_component(components, "sampler", sampler)
    return build_sampler(components, scfg).latent_read_time(tm.capabilities)


def test_samplers_report_where_they_read_the_latent(components) -> None:
    seq = _oracle_reader(components, sequential=True)
    joint = _oracle_reader(components, sequential=False)
    assert _read_time(components, seq, {"name": "sequential", "steps": 1}) == 0.0
    assert _read_time(components, joint, {"name": "joint", "steps": 1}) == 1.0  # its first call: the prior
    lead = _read_time(components, joint, {"name": "joint", "steps": 1, "latent_steps": 8, "latent_lead": 8})
    assert lead == pytest.approx(1e-5)  # the latent grid's end: resolved before any token
    assert _read_time(components, joint, {"name": "joint", "steps": 1, "latent_steps": 4, "latent_lead": 2}) == (
        pytest.approx(0.5, abs=1e-5)
    )
    assert _read_time(components, seq, {"name": "maskgit", "steps": 1}) == 0.0  # auto: sequential where offered
    assert _read_time(components, joint, {"name": "remdm", "steps": 1}) == 1.0  # auto: joint


def test_joint_lead_is_validated_and_counted(components) -> None:
    with pytest.raises(ValueError, match="latent_lead"):
        validate_component(components, "sampler", {"name": "joint", "steps": 2, "latent_steps": 2, "latent_lead": 3})
    tm = _oracle_reader(components, sequential=False)
    scfg = validate_component(components, "sampler", {"name": "joint", "steps": 2, "latent_steps": 4, "latent_lead": 3})
    out = build_sampler(components, scfg).sample(tm.model.eval(), 3, generator=torch.Generator().manual_seed(0))
    assert out.nfe == 3 + 2 + 1 and out.info["token_nfe"] == 3
    assert not tm.model.process.is_noised(out.tokens).any()


def test_probe_reads_the_clean_latent_where_a_tied_joint_sampler_cannot(components) -> None:
    """Oracle: the token network reads a latent that determines x_0.  At the joint sampler's operating point
    (t_y = 1) the latent is noise and the probe must say so; the clean latent must show its worth."""
    tm = _oracle_reader(components, sequential=True)  # trained to read the clean latent
    res = check_latent_plumbing(tm.model, steps=150, lr=1e-2)
    assert res.passed
    held = random_sequences(64, 2, 4, seed=9)
    g = torch.Generator().manual_seed(0)
    at_joint = latent_health(tm.model, held, g, read_t_y=1.0, grid=True)
    assert at_joint["latent_gain_clean_bpt"] > 0.2  # what the latent carries
    assert at_joint["latent_read_t_y"] == 1.0
    assert at_joint["latent_gain_full_bpt"] < 0.05  # what a joint sampler's first call can use
    problems = assess(at_joint)
    assert any(
        "useless as the configured sampler reads it (t_y = 1)" in p and "sequential sampler" in p for p in problems
    )
    at_seq = latent_health(tm.model, held, torch.Generator().manual_seed(0), read_t_y=0.0)
    assert at_seq["latent_gain_full_bpt"] == at_seq["latent_gain_clean_bpt"] > 0.2
    assert not any("useless" in p for p in assess(at_seq))  # no false alarm for the sequential sampler
    # the grid: gain falls as the latent is noised (t_y up), at every t_x
    for t_x in GRID_T_X:
        gains = [at_joint[grid_key(t_x, t_y)] for t_y in GRID_T_Y]
        assert gains[0] > gains[-1] + 0.1, (t_x, gains)
    assert at_joint[grid_key(1.0, 0.0)] == pytest.approx(at_joint["latent_gain_clean_bpt"], abs=1e-9)


def test_vq_probe_masks_codes_at_t_y(components) -> None:
    tm = build_tiny_model(
        components, {"name": "vq", "encoder": ENC, "codebook_size": 4, "kmeans_iters": 1}, vocab_size=2, seq_len=4
    )
    held = random_sequences(16, 2, 4, seed=3)
    h = latent_health(tm.model.eval(), held, torch.Generator().manual_seed(0), read_t_y=1.0, grid=True)
    assert h["latent_gain_full_bpt"] == 0.0  # every code masked: the informed latent is the null one
    assert h[grid_key(1.0, 1.0)] == 0.0


def test_plumbing_fails_for_a_backbone_that_drops_or_scrambles_the_latent(components) -> None:
    for how in ("drop", "scramble"):
        tm = _oracle_reader(components, sequential=True)
        forward = tm.model.backbone.forward

        def broken(x, lat, t_x, t_y, attn, forward=forward, how=how):
            if lat is not None:
                lat = torch.zeros_like(lat) if how == "drop" else lat[torch.randperm(lat.shape[0])]
            return forward(x, lat, t_x, t_y, attn)

        tm.model.backbone.forward = broken
        res = check_latent_plumbing(tm.model, steps=150, lr=1e-2)
        assert not res.passed, (how, res)


def test_oracle_encoder_determines_the_tokens() -> None:
    enc = OracleEncoder(OracleEncoder.Config(num_slots=2, dim=4), vocab_size=2, seq_len=4)
    x = torch.cartesian_prod(*[torch.arange(2)] * 4)  # (16, 4): every sequence
    y = enc(x, torch.ones_like(x, dtype=torch.bool))  # (16, 2, 4)
    assert torch.unique(y.reshape(16, -1), dim=0).shape[0] == 16  # injective
    hidden = enc(x, torch.ones_like(x, dtype=torch.bool), hide=torch.tensor([[True, False, False, False]] * 16))
    assert torch.equal(hidden[:, 1], y[:, 1]) and not torch.equal(hidden[:, 0], y[:, 0])  # only slot 0 loses
    big = OracleEncoder(OracleEncoder.Config(num_slots=1, dim=3), vocab_size=5, seq_len=4)  # chunk wider than d
    assert big(x, torch.ones_like(x, dtype=torch.bool)).shape == (16, 1, 3)
