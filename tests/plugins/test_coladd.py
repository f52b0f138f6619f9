"""Tests of the ``ladd_coladd`` plug-in: VP algebra, the ``gaussian`` latent channel, presets."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

import pytest
import torch
from torch import Tensor, nn

from ladd_coladd.channel import GaussianLatent
from ladd_coladd.vp import VP, shift_time, shift_time_derivative
from ladd_core.build import build_model
from ladd_core.components.backbones import Backbone, BackboneConfig, BackboneOutput
from ladd_core.components.data import Batch
from ladd_core.components.encoders import Encoder, EncoderConfig
from ladd_core.components.latents import LatentBatch, Networks
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import validate_config
from ladd_schedules.schedules import CosineSchedule, LinearSchedule, SqrtSchedule

SCHEDULES = [
    SqrtSchedule(SqrtSchedule.Config()),
    LinearSchedule(LinearSchedule.Config()),
    CosineSchedule(CosineSchedule.Config()),
]


# -- fakes ----------------------------------------------------------------------------
class FakeEncoder(Encoder):
    """``y0[b, k] = tanh(W onehot-mean(x0))``; records the ``hide`` masks it was given."""

    class Config(EncoderConfig):
        name: Literal["fake-enc"] = "fake-enc"

    def __init__(self, config: EncoderConfig, vocab_size: int = 2, seq_len: int = 8, zero: bool = False) -> None:
        super().__init__(config, vocab_size, seq_len)
        self.proj = nn.Linear(seq_len, config.num_slots * config.dim)
        self.zero = zero
        self.hides: list[Tensor | None] = []

    def forward(self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None = None) -> Tensor:
        self.hides.append(hide)
        h = x0.float() if hide is None else x0.float() * (~hide).float()
        out = torch.tanh(self.proj(h)).reshape(x0.shape[0], self.num_slots, self.dim)
        return out * 0.0 if self.zero else out


class RecordingNet(Backbone):
    """Records its inputs; token logits zero, latent output ``oracle(latents, t_y)`` or zeros."""

    class Config(BackboneConfig):
        name: Literal["fake-net"] = "fake-net"

    capabilities = frozenset({"tokens", "latent_stream"})

    def __init__(self, classes: int = 3, oracle: Any = None, tokens: bool = True) -> None:
        super().__init__(self.Config(), None)  # type: ignore[arg-type]
        self.w = nn.Parameter(torch.zeros(()))
        self.classes, self.oracle, self.tokens = classes, oracle, tokens
        self.calls: list[dict[str, Any]] = []

    def forward(self, tokens, latents, t_x, t_y, attention_mask=None) -> BackboneOutput:  # type: ignore[override]
        self.calls.append({"tokens": tokens, "latents": latents, "t_x": t_x, "t_y": t_y})
        logits = None
        if self.tokens:
            logits = torch.zeros(*tokens.shape, self.classes) + self.w
        lat = self.oracle(latents, t_y) if self.oracle is not None else latents * 0 + self.w
        return BackboneOutput(logits, lat)


def _channel(k: int = 1, d: int = 4, zero: bool = False, **kw: Any) -> GaussianLatent:
    torch.manual_seed(0)
    enc = FakeEncoder(FakeEncoder.Config(num_slots=k, dim=d), zero=zero)
    cfg = GaussianLatent.Config.model_validate({"encoder": {"name": "transformer"}, **kw})
    return GaussianLatent(cfg, encoder=enc, schedule=SqrtSchedule(SqrtSchedule.Config()))


def _grid(n: int) -> Tensor:
    return torch.linspace(1.0, 1e-5, n + 1, dtype=torch.float64)


# -- VP algebra -----------------------------------------------------------------------
@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: type(s).__name__)
def test_forward_marginal_moments(sched) -> None:
    vp = VP(sched)
    g = torch.Generator().manual_seed(0)
    n = 200_000
    y0 = torch.tensor([0.7, -0.3], dtype=torch.float64).expand(n, 2)
    for tv in (0.05, 0.5, 0.95):
        t = torch.full((n,), tv, dtype=torch.float64)
        y = vp.marginal(y0, t, torch.randn(n, 2, generator=g, dtype=torch.float64))
        a2 = float(sched.alpha(torch.tensor(tv, dtype=torch.float64)))
        torch.testing.assert_close(y.mean(0), math.sqrt(a2) * y0[0], atol=5e-3, rtol=0)
        torch.testing.assert_close(y.var(0), torch.full((2,), 1 - a2, dtype=torch.float64), atol=1e-2, rtol=0)


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: type(s).__name__)
def test_posterior_reproduces_marginal(sched) -> None:
    """y_t ~ q(y_t|y0), then y_s ~ q(y_s|y_t,y0): y_s must follow q(y_s|y0)."""
    vp = VP(sched)
    g = torch.Generator().manual_seed(1)
    n = 200_000
    y0 = torch.full((n, 1), 0.8, dtype=torch.float64)
    for tv, sv in ((0.9, 0.4), (0.3, 0.1), (1.0, 0.0)):
        t, s = torch.full((n,), tv, dtype=torch.float64), torch.full((n,), sv, dtype=torch.float64)
        y_t = vp.marginal(y0, t, torch.randn(n, 1, generator=g, dtype=torch.float64))
        y_s = vp.ancestral(y_t, y0, t, s, g)
        a_s, s_s = vp.coeffs(s[:1])
        assert abs(float(y_s.mean()) - float(a_s) * 0.8) < 6e-3
        assert abs(float(y_s.var()) - float(s_s) ** 2) < 1e-2
        # the posterior mean is linear in y_t: regression slope and residual variance match too
        mean, var = vp.posterior(y_t, y0, t, s)
        resid = (y_s - mean).var()
        assert abs(float(resid) - float(var[0])) < 1e-2 + 0.02 * float(var[0])


def test_ddim_with_true_x0_and_eps_returns_y0() -> None:
    g = torch.Generator().manual_seed(2)
    y0 = torch.randn(3, 2, 4, generator=g, dtype=torch.float64)
    for prediction in ("x0", "eps"):
        ch = _channel(k=2, d=4, prediction=prediction)
        y = ch.sample_prior(3, torch.device("cpu"), g)
        z = y.clone()  # the prior draw plays the role of the noise at t = 1
        ts = _grid(7)
        y = ch.vp.marginal(y0, torch.ones(3, dtype=torch.float64), z)
        for i in range(7):
            t, s = ts[i].expand(3), ts[i + 1].expand(3)
            out = y0 if prediction == "x0" else ch.vp.eps_from_x0(y, y0, t)
            y = ch.latent_step(y, out, t, s)
            torch.testing.assert_close(y, ch.vp.marginal(y0, s, z))  # DDIM keeps the noise direction
        out = y0 if prediction == "x0" else ch.vp.eps_from_x0(y, y0, ts[-1].expand(3))
        torch.testing.assert_close(ch.latent_finalize(y, out, ts[-1].expand(3)), y0)


def test_eps_x0_round_trip() -> None:
    vp = VP(SqrtSchedule(SqrtSchedule.Config()))
    g = torch.Generator().manual_seed(3)
    y0, eps = (
        torch.randn(5, 3, 2, generator=g, dtype=torch.float64),
        torch.randn(5, 3, 2, generator=g, dtype=torch.float64),
    )
    t = torch.rand(5, generator=g, dtype=torch.float64) * 0.98 + 0.01
    y_t = vp.marginal(y0, t, eps)
    torch.testing.assert_close(vp.eps_from_x0(y_t, y0, t), eps)
    torch.testing.assert_close(vp.x0_from_eps(y_t, eps, t), y0)
    torch.testing.assert_close(vp.x0_from_eps(y_t, vp.eps_from_x0(y_t, y0, t), t), y0)


def test_time_shift() -> None:
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    a = math.sqrt(0.5)
    s = shift_time(t, a)
    assert s[0] == 0 and s[-1] == 1 and bool((s[1:-1] < t[1:-1]).all())
    assert abs(float(shift_time(torch.tensor(0.5), a)) - 0.414) < 1e-3
    h = 1e-6
    num = (shift_time(t[1:-1] + h, a) - shift_time(t[1:-1] - h, a)) / (2 * h)
    torch.testing.assert_close(num, shift_time_derivative(t[1:-1], a))
    with pytest.raises(ValueError, match="independent"):
        GaussianLatent.Config.model_validate({"time_shift": 0.7})


# -- the channel in training ------------------------------------------------------------
def _batch(b: int = 6, length: int = 8, seed: int = 4) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randint(0, 2, (b, length), generator=g)
    masked = torch.rand(b, length, generator=g) < 0.5
    x_t = torch.where(masked, torch.full_like(x0, 2), x0)
    return x0, x_t, torch.rand(b, generator=g) * 0.9 + 0.05, torch.ones(b, length, dtype=torch.bool)


def test_joint_training_forward_feeds_noisy_latent() -> None:
    ch = _channel(p_cfg=0.0, p_r_max=0.0)
    net = RecordingNet()
    x0, x_t, t, attn = _batch()
    out = ch.training_forward(Networks(net), LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(0)))
    (call,) = net.calls
    assert torch.equal(call["tokens"], x_t) and torch.equal(call["t_x"], t) and torch.equal(call["t_y"], t)
    y0 = ch.encoder(x0, attn)
    assert call["latents"].shape == y0.shape and not torch.allclose(call["latents"], y0)
    # latent net outputs zero: the x0-MSE is the mean square of y0
    torch.testing.assert_close(out.latent_loss, y0.pow(2).flatten(1).mean(-1))
    assert out.latent_nelbo is None and out.token_logits.shape == (6, 8, 3)


def test_sequential_training_forward_uses_clean_latent_and_zero_time() -> None:
    ch = _channel(p_cfg=0.0, p_r_max=0.0, clocks="independent")
    tok, lat = RecordingNet(), RecordingNet(tokens=False)
    x0, x_t, t, attn = _batch()
    ch.training_forward(Networks(tok, lat), LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(0)))
    y0 = ch.encoder(x0, attn)
    (tc,) = tok.calls
    torch.testing.assert_close(tc["latents"], y0)
    assert torch.equal(tc["t_y"], torch.zeros(6)) and torch.equal(tc["t_x"], t)
    (lc,) = lat.calls
    assert lc["tokens"] is None and lc["t_x"] is None
    assert not torch.allclose(lc["t_y"], t)  # independent clock
    assert bool(((lc["t_y"] >= 1e-4) & (lc["t_y"] <= 1)).all())


def test_dropout_and_encoder_corruption_only_in_training() -> None:
    ch = _channel(p_cfg=0.5, p_r_max=0.9)
    net = RecordingNet()
    x0, x_t, t, attn = _batch(b=64)
    out = ch.training_forward(Networks(net), LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(0)))
    dropped = net.calls[0]["latents"].flatten(1).abs().sum(-1) == 0
    assert 10 < int(dropped.sum()) < 54
    assert bool((out.latent_loss.detach()[dropped] == 0).all()) and bool((out.latent_loss.detach()[~dropped] > 0).all())
    hide = ch.encoder.hides[-1]
    assert hide is not None and bool(hide.any()) and not bool((hide & (x_t == x0)).any())  # only masked positions
    ch.eval()
    net.calls.clear()
    out = ch.training_forward(Networks(net), LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(0)))
    assert ch.encoder.hides[-1] is None and bool((net.calls[0]["latents"].flatten(1).abs().sum(-1) > 0).all())


def test_per_sequence_corruption_hides_all_masked_positions_or_none() -> None:
    """Reference-style corruption: one decision per sequence, roughly half the rows hidden on average."""
    ch = _channel(p_cfg=0.0, p_r_max=0.9, corruption="per_sequence")
    x0, x_t, t, attn = _batch(b=256)
    ch.training_forward(Networks(RecordingNet()), LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(0)))
    hide = ch.encoder.hides[-1]
    masked = x_t != x0  # (B, L)
    rows = masked.any(-1)
    whole = (hide == masked).all(-1) & hide.any(-1)  # every masked position hidden
    none = ~hide.any(-1)
    assert bool((whole | none)[rows].all())  # no row is hidden in part
    share = float(whole[rows].float().mean())  # E[p_r] = 0.45
    assert 0.33 < share < 0.57
    per_token = _channel(p_cfg=0.0, p_r_max=0.9)
    per_token.training_forward(
        Networks(RecordingNet()), LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(0))
    )
    partial = per_token.encoder.hides[-1]
    assert bool(((partial != masked) & partial.any(-1, keepdim=True)).any())  # the default hides rows in part


def test_two_stage_latent_loss_and_denoiser_call() -> None:
    ch = _channel(two_stage=True)
    tok, lat = RecordingNet(), RecordingNet(tokens=False)
    x0, x_t, t, attn = _batch()
    out = ch.training_forward(Networks(tok, lat), LatentBatch(x0, x_t, t, attn), stage=1)
    assert not lat.calls and bool((out.latent_loss == 0).all())
    out = ch.training_forward(Networks(tok, lat), LatentBatch(x0, x_t, t, attn), stage=2)
    assert len(lat.calls) == 1 and float(out.latent_loss.detach().sum()) > 0


def test_trainable_modules_frozen_encoder_and_learnable_sigma() -> None:
    ch = _channel(variance="learnable", two_stage=True)
    tok, lat = RecordingNet(), RecordingNet(tokens=False)
    nets = Networks(tok, lat)
    s1, s2 = ch.trainable_modules(1, nets), ch.trainable_modules(2, nets)
    assert ch.encoder in s1 and ch.noise in s1 and tok in s1 and lat not in s1
    assert ch.encoder not in s2 and ch.noise not in s2 and tok in s2 and lat in s2
    ch.encoder.trainable = False  # a frozen pretrained encoder never trains
    assert ch.encoder not in ch.trainable_modules(1, nets)


def test_capabilities() -> None:
    cfg = GaussianLatent.Config()
    assert GaussianLatent.capabilities_for(cfg) == {"joint"}
    assert GaussianLatent.capabilities_for(cfg, has_latent_denoiser=True) == {"sequential"}
    fixed = GaussianLatent.Config(variance="fixed")
    assert GaussianLatent.capabilities_for(fixed) == {"joint", "joint_bound"}
    assert GaussianLatent.backbone_requires == {"latent_stream"}


def test_latent_nelbo_only_with_fixed_variance() -> None:
    x0, x_t, t, attn = _batch()
    for variance in ("none", "learnable"):
        ch = _channel(variance=variance).eval()
        assert ch.training_forward(Networks(RecordingNet()), LatentBatch(x0, x_t, t, attn)).latent_nelbo is None
    ch = _channel(variance="fixed").eval()
    out = ch.training_forward(Networks(RecordingNet()), LatentBatch(x0, x_t, t, attn))
    assert out.latent_nelbo is not None and out.latent_nelbo.shape == (6,)
    assert {"latent_diffusion", "latent_prior", "latent_decode", "latent_nelbo"} <= set(out.logs)
    ch.train()  # latent dropout and p_r perturb the model: no bound in training mode
    assert ch.training_forward(Networks(RecordingNet()), LatentBatch(x0, x_t, t, attn)).latent_nelbo is None


def test_latent_bound_is_tight_for_an_oracle_denoiser() -> None:
    """Null encoder with fixed sigma: q(y0|x0) = N(0, sigma^2).  With the exact posterior-mean denoiser the
    latent bound E[-log p(y0)] - H[q] is ~0 (the gap comes only from the decoder and prior, ~1e-3 nats)."""
    sigma, d, n = 0.3, 4, 400_000
    ch = _channel(d=d, zero=True, variance="fixed", sigma=sigma).eval()

    def oracle(y_t: Tensor, t_y: Tensor) -> Tensor:
        a, s = ch.vp.coeffs(t_y.double())
        a, s = a[:, None, None], s[:, None, None]
        return (a * sigma**2 * y_t.double() / (a**2 * sigma**2 + s**2)).float()

    tok, lat = RecordingNet(), RecordingNet(oracle=oracle, tokens=False)
    g = torch.Generator().manual_seed(5)
    t = 1e-4 + (1 - 1e-4) * (torch.rand((), generator=g) + torch.arange(n)) / n
    x0 = torch.zeros(n, 8, dtype=torch.long)
    out = ch.training_forward(Networks(tok, lat), LatentBatch(x0, x0, t, torch.ones(n, 8, dtype=torch.bool), g))
    assert out.latent_nelbo is not None
    mean, se = float(out.latent_nelbo.detach().mean()), float(out.latent_nelbo.detach().std()) / math.sqrt(n)
    assert abs(out.logs["latent_decode"]) > 5  # the terms themselves are large and cancel
    assert abs(mean) < 4 * se + 0.05, (mean, se)


def test_eps_prediction_mse_targets_noise() -> None:
    ch = _channel(prediction="eps", p_cfg=0.0, p_r_max=0.0)
    x0, x_t, t, attn = _batch()
    out = ch.training_forward(Networks(RecordingNet()), LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(0)))
    # predicting eps = 0 gives an MSE of mean(z^2), about 1 (not mean(y0^2))
    assert 0.3 < float(out.latent_loss.detach().mean()) < 3.0


def test_elbo_latent_loss_is_finite_and_positive() -> None:
    ch = _channel(latent_loss="elbo", p_cfg=0.0, p_r_max=0.0)
    x0, x_t, t, attn = _batch()
    out = ch.training_forward(Networks(RecordingNet()), LatentBatch(x0, x_t, t, attn))
    assert torch.isfinite(out.latent_loss).all() and bool((out.latent_loss.detach() > 0).all())


# -- assembled models ----------------------------------------------------------------------
def _tiny_cfg(components, **model: Any) -> Any:
    data = {
        "model": {
            "latent": {
                "name": "gaussian",
                "encoder": {"name": "transformer", "num_slots": 2, "dim": 8, "hidden": 16, "layers": 1, "heads": 2},
                **model.pop("latent", {}),
            },
            "backbone": {"name": "mmdit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8},
            **model,
        },
        "data": {"name": "sawtooth", "seq_len": 16},
        "sampler": {"name": "sequential" if "latent_denoiser" in model else "joint", "steps": 4},
    }
    return validate_config(data, components)


_DEN = {"name": "latent-dit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8}


def _grad_flags(model) -> tuple[bool, bool, bool]:
    enc = all(p.requires_grad for p in model.latent.encoder.parameters())
    bb = all(p.requires_grad for p in model.backbone.parameters())
    den = all(p.requires_grad for p in model.latent_denoiser.parameters())
    return enc, bb, den


def test_stage_semantics(components) -> None:
    cfg = _tiny_cfg(components, latent={"two_stage": True}, latent_denoiser=_DEN)
    model = build_model(cfg, components, vocab_size=2, seq_len=16)
    model.set_stage(1)
    assert _grad_flags(model) == (True, True, False)
    model.set_stage(2)
    assert _grad_flags(model) == (False, True, True)
    single = build_model(_tiny_cfg(components, latent_denoiser=_DEN), components, vocab_size=2, seq_len=16)
    single.set_stage(1)
    assert _grad_flags(single) == (True, True, True)


@pytest.mark.parametrize("encoder", ["transformer", "zero"])
def test_assembled_joint_model_trains(components, encoder: str) -> None:
    cfg = _tiny_cfg(
        components,
        latent={"encoder": {"name": encoder, "num_slots": 2, "dim": 8, "hidden": 16, "layers": 1, "heads": 2}},
    )
    torch.manual_seed(0)
    model = build_model(cfg, components, vocab_size=2, seq_len=16)
    params = model.set_stage(1)
    opt = torch.optim.AdamW(params, lr=1e-2)
    g = torch.Generator().manual_seed(0)
    batch = Batch(torch.randint(0, 2, (8, 16), generator=g), torch.ones(8, 16, dtype=torch.bool))
    losses = []
    for _ in range(15):
        out = model.loss(batch, g)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    y0 = model.latent.encoder(batch.tokens, batch.attention_mask)
    assert y0.shape == (8, 2, 8)
    if encoder == "zero":
        assert bool((y0 == 0).all())


def test_validation_rejects_incompatible_samplers(components) -> None:
    base = {
        "model": {"latent": {"name": "gaussian"}, "backbone": {"name": "mmdit"}},
        "sampler": {"name": "sequential"},
    }
    with pytest.raises(ConfigError, match=r"Compatible samplers: joint"):
        validate_config(base, components)
    with pytest.raises(ConfigError, match=r"Compatible samplers: ancestral"):
        validate_config({"sampler": {"name": "joint"}}, components)
    with pytest.raises(ConfigError, match=r"latent_stream"):
        validate_config({"model": {"latent": {"name": "gaussian"}}, "sampler": {"name": "joint"}}, components)


def test_presets_differ_from_mdlm_only_in_components(components) -> None:
    for latent_name, mdlm_name in (("sawtooth-coladd", "sawtooth-mdlm"), ("shakespeare-coladd", "shakespeare-mdlm")):
        co, md = components.get("preset", latent_name), components.get("preset", mdlm_name)
        cfg = validate_config(co, components)
        assert cfg.model.latent.name == "gaussian" and cfg.model.backbone.name == "mmdit"
        assert co["data"] == md["data"] and co["seed"] == md["seed"]
        changed = {k for k in md["train"] if co["train"].get(k) != md["train"][k]}
        # shakespeare-mdlm trains with Muon, measured on the MDLM only; the latent presets keep AdamW (the bench
        # overrides every model to AdamW, so its comparison stays matched)
        assert changed <= {"stages", "max_steps", "optimizer"}
        assert co["train"].get("optimizer", "adamw") == "adamw"
        assert co["train"].get("max_steps", 0) <= md["train"]["max_steps"]  # never a larger budget than MDLM
        # the objective is MDLM's; the sawtooth preset adds only the share of fully masked training rows
        co_obj = {k: v for k, v in co.get("objective", {}).items() if k != "full_mask_fraction"}
        assert co_obj == md.get("objective", {})
        bb = {k: v for k, v in co["model"]["backbone"].items() if k != "name"}
        assert bb == {k: v for k, v in md["model"]["backbone"].items() if k != "name"}
    saw = validate_config(components.get("preset", "sawtooth-coladd"), components)
    assert saw.model.latent.encoder.num_slots == 1 and saw.model.latent.encoder.dim == 32
    assert saw.model.latent_denoiser.name == "latent-dit" and saw.objective.name == "masked-ce"
    assert saw.train.ema == 0.99 and len(saw.train.stages) == 2 and saw.model.latent.two_stage


def test_tiny_two_stage_cli_run(tmp_path) -> None:
    from ladd_core.cli.main import main

    run = tmp_path / "run"
    tiny = [
        "model.latent.encoder.hidden=16",
        "model.latent.encoder.layers=1",
        "model.latent.encoder.dim=8",
        "model.backbone.hidden=16",
        "model.backbone.layers=1",
        "model.backbone.heads=2",
        "model.backbone.cond_dim=8",
        "model.latent_denoiser.hidden=16",
        "model.latent_denoiser.layers=1",
        "model.latent_denoiser.cond_dim=8",
        "data.seq_len=16",
        "data.train_size=256",
        "data.val_size=32",
        "train.batch_size=8",
        "train.stages=[0,3]",
        "train.log_every=1",
        "train.eval_batches=1",
        "train.threads=0",
    ]
    args = ["train", "sawtooth-coladd", "--out", str(run), "--max-steps", "6"]
    for s in tiny:
        args += ["--set", s]
    assert main(args) == 0
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    stages = {r["step"]: r["stage"] for r in recs if "stage" in r}
    assert stages[3] == 1 and stages[4] == 2
    # stage 1: no latent denoising loss; what latent_loss holds there is the encoder's variance floor (preset)
    stage1 = [r for r in recs if r.get("stage") == 1]
    assert stage1 and all(r["latent_loss"] == pytest.approx(r["encoder_reg"]) for r in stage1)
    assert all(r["latent_loss"] > 0 and "encoder_reg" not in r for r in recs if r.get("stage") == 2)
    out = tmp_path / "s.jsonl"
    assert (
        main(["sample", str(run), "--num-samples", "3", "--steps", "4", "--latent-steps", "2", "--out", str(out)]) == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and all(len(r["tokens"]) == 16 and set(r["tokens"]) <= {0, 1} for r in rows)
    assert all(r["nfe"] <= (2 + 1) + (4 + 1) for r in rows)


def test_minilm_preset_is_shakespeare_coladd_with_the_frozen_encoder(components) -> None:
    from ladd_core.config.experiment import validate_config
    from ladd_core.config.loading import load_config_source

    base = validate_config(load_config_source("shakespeare-coladd", components), components)
    mini = validate_config(load_config_source("shakespeare-coladd-minilm", components), components)
    enc = mini.model.latent.encoder
    assert enc.name == "hf" and enc.path is None and components.get("encoder", "hf").trainable is False  # MiniLM
    assert (enc.num_slots, enc.dim, enc.hide) == (4, None, "mask")  # all 384 dims, reference-style hiding
    assert mini.model.backbone == base.model.backbone and mini.train == base.train and mini.data == base.data
    assert mini.model.latent_denoiser == base.model.latent_denoiser and mini.sampler == base.sampler


@pytest.mark.parametrize("latent_step", ["ddim", "ancestral"])
@pytest.mark.parametrize("prediction", ["x0", "eps"])
def test_grid_latent_step_is_the_latent_step(latent_step: str, prediction: str) -> None:
    lat = _channel(k=3, d=4, latent_step=latent_step, prediction=prediction)
    grid = _grid(5)[:, None].expand(-1, 2).contiguous()  # (M + 1, B)
    step = lat.grid_latent_step(grid)
    g = torch.Generator().manual_seed(0)
    state = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    out = torch.randn(2, 3, 4, generator=g)
    for i in range(5):
        want = lat.latent_step(state, out, grid[i], grid[i + 1], torch.Generator().manual_seed(i))
        got = step(state, out, i, torch.Generator().manual_seed(i))
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-12), (latent_step, prediction, i)
