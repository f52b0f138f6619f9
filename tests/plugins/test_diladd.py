"""Tests of the ``vq`` latent channel (Di-LADD) of the ``ladd_diladd`` plug-in.

Unit tests use tiny fake encoder/backbone modules; the end-to-end tests use the
registered ``transformer`` encoder, ``mmdit`` backbone and ``joint``/``sequential``
samplers (skipped while those are not installed).
"""

from __future__ import annotations

import math
from typing import ClassVar

import pytest
import torch
from torch import Tensor, nn

from ladd_core.components.backbones import Backbone, BackboneOutput, BackboneSpec
from ladd_core.components.encoders import Encoder, EncoderConfig
from ladd_core.components.latents import LatentBatch, Networks
from ladd_core.config.errors import ConfigError
from ladd_core.plugins import load_plugins
from ladd_diladd.channel import VQLatent
from ladd_schedules.schedules import LinearSchedule, PolynomialSchedule

V, L, K, D, C = 3, 10, 2, 4, 6


class FakeEncoder(Encoder):
    """Mean of token embeddings -> ``(B, K, d)``; records ``hide``."""

    def __init__(self, config: EncoderConfig, vocab_size: int = V, seq_len: int = L) -> None:
        super().__init__(config, vocab_size, seq_len)
        self.embed = nn.Embedding(vocab_size + 1, config.num_slots * config.dim)
        self.last_hide: Tensor | None = None

    def forward(self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None = None) -> Tensor:
        self.last_hide = hide
        h = self.embed(x0).mean(1)  # (B, K*d)
        return h.reshape(x0.shape[0], self.config.num_slots, self.config.dim)


class FakeBackbone(Backbone):
    """Tokens + latent stream; records its inputs and counts calls."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"tokens", "latent_stream"})

    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__(None, spec)  # type: ignore[arg-type]
        self.emb = nn.Embedding(spec.num_classes, 8)
        self.lat = nn.Linear(spec.latent_in_dim, 8)
        self.tok_head = nn.Linear(8, spec.num_classes)
        self.code_head = nn.Linear(8, spec.latent_out_dim)
        self.calls: list[dict[str, Tensor | None]] = []

    def forward(self, tokens, latents, t_x, t_y, attention_mask=None) -> BackboneOutput:  # type: ignore[override]
        self.calls.append({"tokens": tokens, "latents": latents, "t_x": t_x, "t_y": t_y})
        h_lat = self.lat(latents)  # (B, K, 8)
        h_tok = self.emb(tokens)  # (B, L, 8)
        return BackboneOutput(
            self.tok_head(h_tok + h_lat.mean(1, keepdim=True)), self.code_head(h_lat + h_tok.mean(1, keepdim=True))
        )


def _channel(**kw: object) -> tuple[VQLatent, Networks]:
    torch.manual_seed(0)
    enc = FakeEncoder(EncoderConfig(name="fake", num_slots=K, dim=D))
    cfg = VQLatent.Config(codebook_size=C, **kw)  # type: ignore[arg-type]
    ch = VQLatent(cfg, encoder=enc, schedule=PolynomialSchedule(PolynomialSchedule.Config()))
    spec = BackboneSpec(V + 1, L, ch.num_slots, ch.input_dim, ch.output_dim)
    return ch, Networks(FakeBackbone(spec))


def _batch(b: int = 8, seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randint(0, V, (b, L), generator=g)
    t = torch.rand(b, generator=g).clamp_min(0.05)
    x_t = torch.where(torch.rand(b, L, generator=g) < t[:, None], torch.full_like(x0, V), x0)
    return x0, x_t, t, torch.ones(b, L, dtype=torch.bool)


# -- config, registration, capabilities ---------------------------------------------------


def test_registered_with_presets() -> None:
    comps = load_plugins()
    assert comps.get("latent", "vq") is VQLatent
    presets = comps.registry("preset").list()
    assert "sawtooth-diladd" in presets and "shakespeare-diladd" in presets


def test_capabilities_and_dims() -> None:
    indep = VQLatent.capabilities_for(VQLatent.Config())
    assert indep == {"joint", "sequential", "joint_bound", "codes"}
    assert VQLatent.capabilities_for(VQLatent.Config(clocks="tied")) == {"joint", "joint_bound", "codes"}
    assert VQLatent.backbone_requires == {"latent_stream"}
    ch, _ = _channel()
    assert (ch.num_slots, ch.input_dim, ch.output_dim, ch.mask_id) == (K, D, C, C)
    proj, _ = _channel(code_dim=3)
    assert (proj.input_dim, proj.quantizer.dim) == (3, 3) and isinstance(proj.proj, nn.Linear)


# -- sampling API ---------------------------------------------------------------------------


def _adversarial_logits(b: int, width: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    kind = seed % 4
    logits = torch.randn(b, K, width, generator=g) * 10 ** float(torch.randint(0, 4, (), generator=g))
    if width == C + 1:
        logits[..., C] = 1e30 if kind == 0 else 80.0  # strongly favours the mask id
    if kind == 1:
        logits[..., -1] = 1e4
    if kind == 2:
        logits.fill_(-1e30)
    return logits


@pytest.mark.parametrize("seed", range(24))
def test_codes_valid_and_never_mask_after_finalize(seed: int) -> None:
    ch, _ = _channel()
    g = torch.Generator().manual_seed(seed)
    b = 16
    state = ch.sample_prior(b, torch.device("cpu"))
    assert state.shape == (b, K) and (state == C).all()
    ts = torch.linspace(1.0, 1e-5, 4, dtype=torch.float64)
    for i in range(3):
        logits = _adversarial_logits(b, C + (seed % 2), seed * 7 + i)
        prev = state
        state = ch.latent_step(state, logits, ts[i].expand(b), ts[i + 1].expand(b), g)
        assert ((state >= 0) & (state <= C)).all()
        revealed = prev != C
        assert torch.equal(state[revealed], prev[revealed])  # never un-reveal, never change a revealed code
    final = ch.latent_finalize(state, _adversarial_logits(b, C + 1, seed), ts[-1].expand(b), g)
    assert ((final >= 0) & (final < C)).all()
    assert torch.equal(final[state != C], state[state != C])
    vec = ch.network_input(final)
    assert vec.shape == (b, K, D) and torch.allclose(vec.norm(dim=-1), torch.ones(b, K), atol=1e-5)


def test_nonfinite_code_logits_raise() -> None:
    from ladd_core.numerics import NonFiniteError

    ch, _ = _channel()
    state = ch.sample_prior(2, torch.device("cpu"))
    bad = torch.zeros(2, K, C)
    bad[0, 0, 1] = float("nan")
    with pytest.raises(NonFiniteError):
        ch.latent_step(state, bad, torch.ones(2), torch.full((2,), 0.5))


def test_masked_posterior_stay_probability() -> None:
    ch, _ = _channel()
    b = 20000
    t, s = torch.full((b,), 0.8), torch.full((b,), 0.5)
    state = ch.sample_prior(b, torch.device("cpu"))
    out = ch.latent_step(state, torch.zeros(b, K, C), t, s, torch.Generator().manual_seed(0))
    a_t, a_s = float(ch.schedule.alpha(t[:1])), float(ch.schedule.alpha(s[:1]))
    p_stay = (1 - a_s) / (1 - a_t)
    n = b * K
    frac = float((out == C).sum()) / n
    assert abs(frac - p_stay) < 5 * math.sqrt(p_stay * (1 - p_stay) / n)
    # revealed codes follow p(c_0 | .): uniform logits -> uniform over the C real codes
    counts = torch.bincount(out[out != C], minlength=C).double()
    assert counts.shape == (C,) and (counts / counts.sum() - 1 / C).abs().max() < 0.02


def test_network_input_and_token_condition() -> None:
    ch, _ = _channel()
    with torch.no_grad():
        ch.mask.vector.fill_(0.5)
    codes = torch.tensor([[0, C], [C - 1, 2]])
    vec = ch.network_input(codes)
    assert torch.equal(vec[0, 1], torch.full((D,), 0.5))
    assert torch.allclose(vec[1, 0], ch.quantizer.lookup(torch.tensor(C - 1)))
    book = ch.quantizer.codebook
    assert torch.allclose(vec[1, 0], book[C - 1] / book[C - 1].norm()), "code vectors are the unit-norm codebook rows"
    assert torch.allclose(vec[1, 0].norm(), torch.tensor(1.0))
    cond, t_y = ch.token_condition(torch.tensor([[0, 1]]))
    assert cond.shape == (1, K, D) and torch.equal(t_y, torch.zeros(1))


def test_predict_latent_feeds_all_mask_tokens() -> None:
    ch, nets = _channel()
    prior = torch.full((3, L), V)
    state = ch.sample_prior(3, torch.device("cpu"))
    out = ch.predict_latent(nets, state, torch.full((3,), 0.7), prior)
    assert out.shape == (3, K, C)
    call = nets.backbone.calls[-1]  # type: ignore[union-attr]
    assert torch.equal(call["tokens"], prior) and torch.equal(call["t_x"], torch.ones(3))
    assert torch.allclose(call["t_y"], torch.full((3,), 0.7))
    assert torch.equal(call["latents"], ch.network_input(state))


# -- training -------------------------------------------------------------------------------


def test_training_forward_stages() -> None:
    ch, nets = _channel(latent_loss="masked-ce")
    ch.train()
    x0, x_t, t, attn = _batch()
    out1 = ch.training_forward(nets, LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(0)), stage=1)
    assert out1.token_logits.shape == (8, L, V + 1) and out1.latent_loss.shape == (8,)
    assert bool(ch.quantizer.initialised)
    assert out1.logs["code_loss"] == 0.0 and out1.latent_loss.mean().item() == pytest.approx(out1.logs["vq_loss"])
    for key in ("vq_utilisation", "vq_perplexity", "vq_unique_fraction"):
        assert key in out1.logs
    book = ch.quantizer.codebook.clone()
    out2 = ch.training_forward(nets, LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(1)), stage=2)
    assert torch.equal(ch.quantizer.codebook, book)  # frozen in stage 2
    assert out2.logs["code_loss"] > 0 and out2.latent_nelbo is not None and out2.latent_nelbo.shape == (8,)
    mods = ch.trainable_modules(2, nets)
    assert ch.encoder not in mods and nets.backbone in mods and ch.mask in mods
    assert ch.encoder in ch.trainable_modules(1, nets)


def test_sequential_target_trains_the_sequential_bound() -> None:
    """target='sequential': tokens read clean codes at t_y = 0; codes are predicted from the all-mask x at t_x = 1."""
    ch, nets = _channel(latent_loss="masked-ce", target="sequential")
    assert ch.capabilities_for(ch.config) == {"sequential", "joint_bound", "codes"}
    nets = Networks(nets.backbone, None, lambda b, n, dev: torch.full((b, n), V, dtype=torch.long, device=dev))
    bb = nets.backbone
    x0, x_t, t, attn = _batch()
    ch.train()
    out1 = ch.training_forward(nets, LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(0)), stage=1)
    assert len(bb.calls) == 1 and out1.latent_nelbo is None and out1.logs["code_loss"] == 0.0
    lat = bb.calls[0]["latents"]  # (B, K, D): quantised vectors, never the mask vector
    assert not bool(torch.isclose(lat, ch.mask.vector.detach()).all(-1).any()) and bool((bb.calls[0]["t_y"] == 0).all())
    assert torch.allclose(lat.norm(dim=-1), torch.ones(lat.shape[:2]), atol=1e-5)  # unit codebook vectors
    assert torch.equal(bb.calls[0]["tokens"], x_t)
    bb.calls.clear()
    out2 = ch.training_forward(nets, LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(1)), stage=2)
    assert len(bb.calls) == 1 and out2.logs["code_loss"] > 0 and out2.latent_nelbo is not None
    (call,) = bb.calls  # one call: 8 token rows, then 8 code rows
    code_call = {k: v[8:] for k, v in call.items() if v is not None}
    assert torch.equal(call["tokens"][:8], x_t) and bool((call["t_y"][:8] == 0).all())
    assert bool((code_call["tokens"] == V).all()) and bool((code_call["t_x"] == 1).all())
    assert bool((code_call["t_y"] > 0).all())
    ch.eval()
    bb.calls.clear()
    out_eval = ch.training_forward(nets, LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(2)), stage=1)
    assert len(bb.calls) == 1 and out_eval.latent_nelbo is not None  # the bound is reported in every stage
    with pytest.raises(ValueError, match="token_prior"):
        ch.training_forward(Networks(bb), LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(2)), stage=1)


def test_latent_nelbo_and_losses_match_definition() -> None:
    ch, nets = _channel(latent_loss="nelbo", latent_weight=2.0, commitment=0.0)
    ch.train()
    x0, x_t, _, attn = _batch(64)
    t = torch.full((64,), 0.9)
    out = ch.training_forward(nets, LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(3)), stage=2)
    call = nets.backbone.calls[-1]  # type: ignore[union-attr]
    masked = (call["latents"] == ch.mask.vector).all(-1)  # z_mask = 0 vector at masked slots
    codes = ch.quantizer.assign(ch.encoder(x0, attn))
    logits = nets.backbone(x_t, call["latents"], t, call["t_y"], attn).latent_out
    nll = -torch.log_softmax(logits, -1).gather(-1, codes[..., None]).squeeze(-1) * masked
    w = ch.schedule.masked_elbo_weight(call["t_y"])
    assert out.latent_nelbo is not None
    assert torch.allclose(out.latent_nelbo, w * nll.sum(-1), atol=1e-4)
    assert torch.allclose(out.latent_loss, 2.0 * w * nll.sum(-1) / K, atol=1e-4)
    assert not torch.allclose(call["t_y"], t)  # independent clock


def test_independent_vs_tied_and_eval_clocks() -> None:
    ch, nets = _channel(clocks="tied")
    x0, x_t, t, attn = _batch()
    ch.train().training_forward(nets, LatentBatch(x0, x_t, t, attn))
    assert torch.equal(nets.backbone.calls[-1]["t_y"], t)  # type: ignore[union-attr]
    ch, nets = _channel()
    ch.eval().training_forward(nets, LatentBatch(x0, x_t, t, attn))
    assert torch.equal(nets.backbone.calls[-1]["t_y"], t)  # type: ignore[union-attr]
    ch.train().training_forward(nets, LatentBatch(x0, x_t, t, attn, torch.Generator().manual_seed(0)))
    t_y = nets.backbone.calls[-1]["t_y"]  # type: ignore[union-attr]
    assert t_y is not None and not torch.equal(t_y, t) and ((t_y >= 1e-4) & (t_y <= 1)).all()


def test_stage1_clean_latent_sees_all_codes() -> None:
    ch, nets = _channel(stage1_latent="clean")
    ch.train()
    x0, x_t, t, attn = _batch()
    out = ch.training_forward(nets, LatentBatch(x0, x_t, t, attn))
    call = nets.backbone.calls[-1]  # type: ignore[union-attr]
    assert torch.equal(call["t_y"], torch.zeros(8)) and out.latent_nelbo is None
    assert torch.allclose(call["latents"].norm(dim=-1), torch.ones(8, K), atol=1e-5)


def test_encoder_input_masking() -> None:
    ch, nets = _channel(p_mask_input_enc=0.3)
    x0, x_t, t, attn = _batch(64)
    ch.train().training_forward(nets, LatentBatch(x0, x_t, t, attn))
    hide = ch.encoder.last_hide  # type: ignore[union-attr]
    assert hide is not None and abs(float(hide.float().mean()) - 0.3) < 0.05
    ch.eval().training_forward(nets, LatentBatch(x0, x_t, t, attn))
    assert ch.encoder.last_hide is None  # type: ignore[union-attr]


def test_gradients_reach_encoder_in_stage1_only() -> None:
    ch, nets = _channel(stage1_latent="clean")
    ch.train()
    x0, x_t, t, attn = _batch()
    out = ch.training_forward(nets, LatentBatch(x0, x_t, t, attn))
    (out.token_logits.logsumexp(-1).mean() + out.latent_loss.mean()).backward()
    assert ch.encoder.embed.weight.grad is not None and ch.encoder.embed.weight.grad.abs().sum() > 0  # type: ignore[union-attr]
    ch2, nets2 = _channel()
    ch2.train()
    out = ch2.training_forward(nets2, LatentBatch(x0, x_t, t, attn), stage=2)
    (out.token_logits.logsumexp(-1).mean() + out.latent_loss.mean()).backward()
    assert ch2.encoder.embed.weight.grad is None  # type: ignore[union-attr]
    assert ch2.mask.vector.grad is not None


def test_linear_schedule_channel() -> None:
    enc = FakeEncoder(EncoderConfig(name="fake", num_slots=1, dim=D))
    ch = VQLatent(VQLatent.Config(codebook_size=C), encoder=enc, schedule=LinearSchedule(LinearSchedule.Config()))
    state = ch.sample_prior(4, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    out = ch.latent_step(state, torch.zeros(4, 1, C), torch.ones(4), torch.zeros(4), g)
    assert (out < C).all()  # alpha(0) ~ 1: everything revealed (w.p. 1 - 1e-4 per slot; seeded)


# -- end to end with the registered encoder, backbone and samplers -------------------------------

TINY = [
    "train.batch_size=8",
    "train.log_every=2",
    "train.eval_batches=1",
    "train.stages=[0,3]",
    "train.threads=1",
    "data.seq_len=16",
    "data.val_size=16",
    "model.backbone.hidden=16",
    "model.backbone.layers=1",
    "model.backbone.cond_dim=8",
    "model.latent.encoder.hidden=16",
    "model.latent.encoder.layers=1",
    "model.latent.codebook_size=16",
    "model.latent.code_dim=8",
]


def _tiny_model(overrides: list[str] = ()):  # type: ignore[assignment]
    from ladd_core.build import build_model
    from ladd_core.config.experiment import validate_config
    from ladd_core.config.loading import apply_overrides

    comps = load_plugins()
    for kind, name in (("backbone", "mmdit"), ("encoder", "transformer"), ("sampler", "sequential")):
        if name not in comps.registry(kind).list():
            pytest.skip(f"{kind} {name!r} is not installed")
    data = apply_overrides(comps.registry("preset").get("sawtooth-diladd"), [*TINY, *overrides])
    cfg = validate_config(data, comps)
    torch.manual_seed(0)
    return comps, cfg, build_model(cfg, comps, vocab_size=2, seq_len=16)


def test_presets_validate_and_differ_from_coladd_only_in_latent() -> None:
    from ladd_core.config.experiment import validate_config

    comps = load_plugins()
    presets = comps.registry("preset")
    for name in ("sawtooth-diladd", "shakespeare-diladd"):
        if "mmdit" not in comps.registry("backbone").list():
            pytest.skip("mmdit is not installed")
        cfg = validate_config(presets.get(name), comps, source=name)
        assert cfg.model.latent.name == "vq"
    seq_only = {**presets.get("sawtooth-diladd"), "sampler": {"name": "joint"}}  # trained for sequential only
    with pytest.raises(ConfigError, match=r"Compatible samplers: maskgit, remdm, sequential\."):
        validate_config(seq_only, comps)
    if "sawtooth-coladd" in presets.list():
        di, co = presets.get("sawtooth-diladd"), presets.get("sawtooth-coladd")
        assert {k for k in di.keys() | co.keys() if di.get(k) != co.get(k)} <= {"description", "model"}
        dm, cm = di["model"], co["model"]
        assert {k for k in dm.keys() | cm.keys() if dm.get(k) != cm.get(k)} <= {"latent", "latent_denoiser"}
        assert dm["latent"]["encoder"] == cm["latent"]["encoder"]


@pytest.mark.parametrize("target", ["joint", "sequential"])
def test_model_loss_backward_and_stage_switch(target: str) -> None:
    _, _, model = _tiny_model([f"model.latent.target={target}"])
    x0 = torch.randint(0, 2, (4, 16))
    from ladd_core.components.data import Batch

    batch = Batch(tokens=x0, attention_mask=torch.ones_like(x0, dtype=torch.bool))
    caps = {"sequential", "joint_bound", "latent_stream"} | ({"joint"} if target == "joint" else set())
    assert caps <= model.capabilities and ("joint" in model.capabilities) == (target == "joint")
    model.train()
    for stage in (1, 2):
        params = model.set_stage(stage)
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        assert any(n.startswith("latent.encoder.") for n in names) == (stage == 1)
        assert "latent.mask.vector" in names and any(n.startswith("backbone.") for n in names)
        out = model.loss(batch, torch.Generator().manual_seed(stage))
        out.loss.backward()
        assert torch.isfinite(out.loss) and len(params) == len(names)
        enc_grads = [p.grad for p in model.latent.encoder.parameters() if p.grad is not None]
        assert bool(enc_grads) == (stage == 1)
        # sequential stage 1 trains tokens on clean codes only: no masked code, no code term
        codes_used = target == "joint" or stage == 2
        assert (model.latent.mask.vector.grad is not None) == codes_used
        assert (out.latent_nelbo is not None) == codes_used
        if codes_used:
            assert out.latent_nelbo.shape == (4,)
        model.zero_grad(set_to_none=True)


@pytest.mark.parametrize(("n", "m"), [(1, 1), (4, 2), (3, 0)])
def test_sampler_nfe_accounting(n: int, m: int) -> None:
    from ladd_core.build import build_sampler

    comps, _, model = _tiny_model()
    model.eval()
    joint = build_sampler(comps, comps.get("sampler", "joint").Config(steps=n))
    out = joint.sample(model, 3, generator=torch.Generator().manual_seed(0))
    assert out.nfe == n + 1
    assert out.latents is not None and ((out.latents >= 0) & (out.latents < 16)).all()
    seq = build_sampler(comps, comps.get("sampler", "sequential").Config(steps=n, latent_steps=m, cache=False))
    out = seq.sample(model, 3, generator=torch.Generator().manual_seed(0))
    assert out.info["latent_nfe"] == m + 1 and out.info["token_nfe"] in (n, n + 1)
    assert out.nfe == out.info["latent_nfe"] + out.info["token_nfe"] <= (m + 1) + (n + 1)
    assert out.latents is not None and ((out.latents >= 0) & (out.latents < 16)).all()
    assert ((out.tokens >= 0) & (out.tokens < 2)).all()


def test_cli_two_stage_train_then_sample(tmp_path) -> None:
    import json

    from ladd_core.cli.main import main

    _tiny_model()  # skips when the e2e components are missing
    run = tmp_path / "run"
    args = ["train", "sawtooth-diladd", "--out", str(run), "--max-steps", "6"]
    for o in [*TINY, "model.latent.target=joint"]:  # trained for both schedules
        args += ["--set", o]
    threads = torch.get_num_threads()
    try:
        assert main(args) == 0
    finally:
        torch.set_num_threads(threads)
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    stages = {r["stage"] for r in recs if "stage" in r}
    assert stages == {1, 2} and all("vq_perplexity" in r for r in recs if "stage" in r)
    for sampler, extra in (("sequential", ["--latent-steps", "2"]), ("joint", [])):
        out = tmp_path / f"{sampler}.jsonl"
        argv = ["sample", str(run), "--sampler", sampler, "--steps", "3", "--num-samples", "3", "--out", str(out)]
        assert main(argv + extra) == 0
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(lines) == 3 and all(set(r["tokens"]) <= {0, 1} for r in lines)


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_code_context_conditions_the_code_pass_on_a_masked_x(share: float) -> None:
    """``code_context``: the sequential code pass reads the token pass's x_t (training only); 0 keeps all-mask x."""
    from ladd_core.components.data import Batch

    # every row gets the code pass here (the sawtooth preset runs it on a quarter of them)
    overrides = [
        "model.latent.target=sequential",
        f"model.latent.code_context={share}",
        "model.latent.code_loss_rows=1",
    ]
    _, _, model = _tiny_model(overrides)
    x0 = torch.randint(0, 2, (6, 16), generator=torch.Generator().manual_seed(0))
    batch = Batch(tokens=x0, attention_mask=torch.ones_like(x0, dtype=torch.bool))
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    hook = model.backbone.register_forward_hook(lambda m, a, o: seen.append((a[0].clone(), a[2].clone())))
    try:
        model.set_stage(2)
        for training in (True, False):
            seen.clear()
            model.train(training)
            model.loss(batch, torch.Generator().manual_seed(1))
            ((x, t),) = seen  # one call: the token pass's 6 rows, then the code pass's
            (x_tok, x_code), (t_tok, t_code) = x.split(6), t.split(6)
            reads_x_t = training and share == 1.0
            assert torch.equal(x_code, x_tok) == reads_x_t
            assert bool((x_code == 2).all()) != reads_x_t  # otherwise the all-mask sequence
            assert torch.equal(t_code, t_tok if reads_x_t else torch.ones_like(t_tok))
    finally:
        hook.remove()


def test_prompt_codes_from_the_encoder_of_the_visible_tokens() -> None:
    _, _, model = _tiny_model(["model.latent.target=sequential"])
    model.eval()
    tokens = torch.tensor([[1, 0, 1, 1] + [2] * 12, [0, 0, 0, 0] + [2] * 12])
    visible = tokens != 2
    assert model.latent.prompt_latent(model.nets, tokens, visible) is None  # default: the code chain
    _, _, enc = _tiny_model(["model.latent.target=sequential", "model.latent.prompt_codes=encoder"])
    enc.eval()
    codes = enc.latent.prompt_latent(enc.nets, tokens, visible)
    x_in = tokens.masked_fill(~visible, 0)
    want = enc.latent.quantizer.assign(enc.latent.proj(enc.latent.encoder(x_in, torch.ones_like(visible), ~visible)))
    assert codes.shape == (2, enc.latent.num_slots) and torch.equal(codes, want)
    x_other = x_in.clone()
    x_other[:, 8] = 1  # a hidden position: never read
    again = enc.latent.quantizer.assign(
        enc.latent.proj(enc.latent.encoder(x_other, torch.ones_like(visible), ~visible))
    )
    assert torch.equal(again, codes)


def _two_call_loss(model, batch, generator):  # type: ignore[no-untyped-def]
    """The sequential stage-2 loss as the schedule computed it before batching: two backbone calls."""
    from ladd_core.components import latent_schedule as ls

    def two_calls(channel, nets, clean, noised, t_y, b):  # type: ignore[no-untyped-def]
        zeros = torch.zeros_like(b.t_x)
        token_logits = nets.backbone(b.x_t, clean.input, b.t_x, zeros, b.attention_mask).token_logits
        if noised is None:
            return token_logits, None
        prior, t_ctx = ls._code_context(channel, nets, b.x_t, b.t_x, b.generator)
        return token_logits, nets.backbone(prior, noised.input, t_ctx, t_y, None).latent_out

    original = ls._sequential_calls
    ls._sequential_calls = two_calls
    try:
        return model.loss(batch, generator)
    finally:
        ls._sequential_calls = original


def test_batched_sequential_call_matches_two_calls() -> None:
    """Di-LADD stage 2 (target=sequential): the one batched call gives the two-call loss and gradients."""
    from ladd_core.components.data import Batch

    overrides = ["model.latent.target=sequential", "model.latent.code_context=0.5", "model.latent.code_loss_rows=1"]
    _, _, model = _tiny_model(overrides)  # every row: the two-call reference has no row subset
    x0 = torch.randint(0, 2, (6, 16), generator=torch.Generator().manual_seed(0))
    batch = Batch(tokens=x0, attention_mask=torch.ones_like(x0, dtype=torch.bool))
    model.set_stage(2)
    model.train()
    grads = []
    for fn in (model.loss, lambda b, g: _two_call_loss(model, b, g)):
        model.zero_grad(set_to_none=True)
        out = fn(batch, torch.Generator().manual_seed(3))
        out.loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        if len(grads) == 1:
            ref = out
    assert out.latent_nelbo is not None and ref.latent_nelbo is not None
    assert abs(float(out.loss.detach() - ref.loss.detach())) < 1e-6
    assert torch.allclose(out.latent_nelbo, ref.latent_nelbo, atol=1e-6)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_code_loss_rows_sub_batch() -> None:
    """``code_loss_rows``: 1.0 is the default full loss; 0.5 runs the code pass on half the rows, finite."""
    from ladd_core.components.data import Batch

    x0 = torch.randint(0, 2, (8, 16), generator=torch.Generator().manual_seed(0))
    batch = Batch(tokens=x0, attention_mask=torch.ones_like(x0, dtype=torch.bool))
    losses = {}
    for rows in (1.0, 0.5):
        _, _, model = _tiny_model(["model.latent.target=sequential", f"model.latent.code_loss_rows={rows}"])
        model.set_stage(2)
        model.train()
        seen: list[int] = []
        hook = model.backbone.register_forward_hook(lambda m, a, o, seen=seen: seen.append(a[0].shape[0]))
        out = model.loss(batch, torch.Generator().manual_seed(1))
        hook.remove()
        assert seen == [8 + int(8 * rows)] and torch.isfinite(out.loss)
        losses[rows] = out
    full, half = losses[1.0], losses[0.5]
    assert full.latent_nelbo is not None and half.latent_nelbo is not None
    assert bool((half.latent_nelbo[4:] == 0).all())  # rows without a code pass
    assert torch.allclose(half.latent_nelbo[:4], 2 * full.latent_nelbo[:4], atol=1e-5)  # same draws, scaled by B/m


def test_stage1_latent_is_rejected_where_it_would_change_nothing() -> None:
    """With target='sequential' the token pass reads clean codes in every stage: an explicit stage1_latent is a
    no-op there (a same-seed run with it was bitwise the run without), so the config says so instead."""
    from ladd_diladd.channel import VQLatent

    with pytest.raises(ValueError, match="stage1_latent applies to target='joint' only"):
        VQLatent.Config(target="sequential", stage1_latent="clean")
    # the default is fine, also written out (saved run configs hold every field)
    assert VQLatent.Config(target="sequential", stage1_latent="noised").stage1_latent == "noised"
    assert VQLatent.Config(target="joint", stage1_latent="clean").stage1_latent == "clean"
