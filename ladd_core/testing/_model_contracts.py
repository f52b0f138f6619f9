"""Contracts that assemble a tiny model around the component: :class:`LatentContract` (samplers: elsewhere)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import pytest
import torch

from ladd_core.build import build_sampler
from ladd_core.components.data import Batch
from ladd_core.components.encoders import Encoder
from ladd_core.components.latent_protocols import (
    JointSampling,
    SequentialSampling,
    as_protocol,
    grid_latent_step,
    protocol_members,
    unbacked_claims,
)
from ladd_core.components.latents import LatentBatch
from ladd_core.model import LaddModel
from ladd_core.plugins import Components
from ladd_core.testing._base import ComponentContract, build_or_skip, run_examples
from ladd_core.testing.plumbing import check_latent_plumbing
from ladd_core.testing.toys import (
    TinyModel,
    build_tiny_model,
    config_model,
    jiggle,
    validate_component,
)

__all__ = ["JOINT_API", "SEQUENTIAL_API", "LatentContract", "count_calls", "replay", "toy_batch"]

JOINT_API = protocol_members(JointSampling)
"""Methods a latent channel declaring ``"joint"`` must implement (:class:`JointSampling`)."""
SEQUENTIAL_API = protocol_members(SequentialSampling)
"""Methods a latent channel declaring ``"sequential"`` must implement (:class:`SequentialSampling`)."""


def toy_batch(vocab_size: int, batch: int, length: int, seed: int = 0) -> Batch:
    """Random tokens; row ``b`` has ``b % 3`` padding positions at the end."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, vocab_size, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.bool)
    for b in range(batch):
        pad = min(b % 3, length - 1)
        if pad:
            mask[b, length - pad :] = False
    return Batch(tokens, mask)


@contextmanager
def count_calls(model: LaddModel) -> Iterator[list[int]]:
    """Count forward calls of the model's networks (backbone and latent denoiser): ``with count_calls(m) as n:``."""
    n = [0]
    nets = [net for net in (model.backbone, model.latent_denoiser) if net is not None]
    hooks = [net.register_forward_hook(lambda *_: n.__setitem__(0, n[0] + 1)) for net in nets]
    try:
        yield n
    finally:
        for h in hooks:
            h.remove()


def replay(model: LaddModel, fn: Callable[[], Any], times: int = 2) -> list[Any]:
    """``fn()`` ``times`` times from the same model state and global RNG state.

    Training steps may update buffers (EMA codebooks, k-means initialisation) and
    ``nn.Dropout`` draws from the global RNG, so both are restored before each call.
    """
    state = copy.deepcopy(model.state_dict())
    outs = []
    for _ in range(times):
        model.load_state_dict(state)
        torch.manual_seed(0)
        outs.append(fn())
    return outs


class LatentContract(ComponentContract):
    """A latent channel implements what its capabilities declare; its training step has the right shapes,
    finite losses and bound terms, ignores padding, is reproducible and differentiable; it samples through
    every compatible registered sampler with the documented NFE; its state dict round-trips.

    A tiny model is assembled around the channel (masked tokens, the first registered backbone with the
    channel's ``backbone_requires``, plus a ``"latent_only"`` denoiser when the channel's capabilities
    change with one).  Override :attr:`backbone` / :attr:`latent_denoiser` (config dicts) to choose them.
    """

    kind = "latent"
    backbone: ClassVar[dict[str, Any] | None] = None
    latent_denoiser: ClassVar[dict[str, Any] | None] = None
    steps: ClassVar[int] = 3
    latent_steps: ClassVar[int] = 2

    def build(self, components: Components, latent: dict[str, Any], with_denoiser: bool, seed: int = 0) -> TinyModel:
        """The tiny model around ``latent`` (networks perturbed away from their zero-initialised heads)."""
        tm = build_or_skip(
            lambda: build_tiny_model(
                components,
                latent,
                vocab_size=self.vocab_size,
                seq_len=self.seq_len,
                seed=seed,
                with_denoiser=with_denoiser,
                backbone=self.backbone,
                latent_denoiser=self.latent_denoiser,
            ),
            latent["name"],
        )
        jiggle(tm.model.backbone, seed)
        if tm.model.latent_denoiser is not None:
            jiggle(tm.model.latent_denoiser, seed + 1)
        return tm

    def variants(self, cls: type, config: Any) -> list[bool]:
        """``with_denoiser`` values worth testing: without, and with when that changes the capabilities."""
        plain = cls.capabilities_for(config, has_latent_denoiser=False)
        den = cls.capabilities_for(config, has_latent_denoiser=True)
        return [False] if den == plain else [False, True]

    @pytest.fixture
    def setups(
        self, contract_components: Components, config_data: dict[str, Any], component_cls: type, component_config: Any
    ) -> list[TinyModel]:
        return [self.build(contract_components, config_data, d) for d in self.variants(component_cls, component_config)]

    def batch(self, seed: int = 0) -> Batch:
        return toy_batch(self.vocab_size, self.batch_size, self.seq_len, seed)

    # -- declarations -------------------------------------------------------------------
    def test_declared_capabilities_are_implemented(self, component_cls: type, component_config: Any) -> None:
        for with_den in (False, True):
            caps = component_cls.capabilities_for(component_config, has_latent_denoiser=with_den)
            problems = unbacked_claims(component_cls, caps)
            assert not problems, "; ".join(problems)
            if "no_latent" in caps:
                assert {"joint", "sequential"}.isdisjoint(caps)

    def test_model_dimensions_agree(self, setups: list[TinyModel]) -> None:
        for tm in setups:
            lat, spec = tm.model.latent, tm.model.backbone.spec
            assert (spec.num_slots, spec.latent_in_dim, spec.latent_out_dim) == (
                lat.num_slots,
                lat.input_dim,
                lat.output_dim,
            )
            if "no_latent" in tm.capabilities:
                assert lat.num_slots == 0

    # -- training -------------------------------------------------------------------------
    def test_training_forward_outputs(self, setups: list[TinyModel]) -> None:
        b, n = self.batch_size, self.seq_len
        batch = self.batch()
        for tm in setups:
            m = tm.model
            for train in (True, False):
                m.train(train)
                g = torch.Generator().manual_seed(1)
                t = m.objective.sample_times(b, torch.device("cpu"), g)
                x_t = m.process.forward_sample(batch.tokens, t, batch.attention_mask, g).x_t
                out = m.latent.training_forward(m.nets, LatentBatch(batch.tokens, x_t, t, batch.attention_mask, g))
                assert out.token_logits.shape == (b, n, m.process.num_classes)
                assert torch.isfinite(out.token_logits).all()
                assert out.latent_loss.shape == (b,) and torch.isfinite(out.latent_loss).all()
                if out.latent_nelbo is not None:
                    assert out.latent_nelbo.shape == (b,) and torch.isfinite(out.latent_nelbo).all()
                elif not train:
                    assert "joint_bound" not in tm.capabilities, "declares 'joint_bound' but reports no latent_nelbo"
                for k, v in out.logs.items():  # numbers, or detached scalar tensors (reduced when logged)
                    ok = isinstance(v, float) or (torch.is_tensor(v) and v.dim() == 0 and not v.requires_grad)
                    assert ok and math.isfinite(float(v)), f"log {k!r} must be a finite float or detached 0-dim tensor"
                if "no_latent" in tm.capabilities:
                    assert not out.latent_loss.any()

    def test_loss_gradients_are_finite(self, setups: list[TinyModel]) -> None:
        for tm in setups:
            m = tm.model.train()
            params = m.set_stage(1)
            m.loss(self.batch(), torch.Generator().manual_seed(2)).loss.backward()
            grads = [p.grad for p in params if p.grad is not None]
            assert grads and all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)

    def test_same_generator_same_loss(self, setups: list[TinyModel]) -> None:
        for tm in setups:
            for train in (True, False):
                tm.model.train(train)
                outs = replay(tm.model, lambda m=tm.model: m.loss(self.batch(), torch.Generator().manual_seed(3)))
                assert torch.equal(outs[0].token_nelbo, outs[1].token_nelbo) and torch.equal(outs[0].loss, outs[1].loss)

    def test_padding_content_is_ignored(self, setups: list[TinyModel]) -> None:
        batch = self.batch()
        junk = Batch(
            torch.where(batch.attention_mask, batch.tokens, (batch.tokens + 1) % self.vocab_size), batch.attention_mask
        )
        for tm in setups:
            for train in (True, False):
                tm.model.train(train)
                feed = iter((batch, junk))
                a, b = replay(tm.model, lambda m=tm.model, it=feed: m.loss(next(it), torch.Generator().manual_seed(4)))
                assert torch.allclose(a.token_nelbo, b.token_nelbo, atol=1e-5), "token NELBO depends on padding ids"
                assert torch.allclose(a.loss, b.loss, atol=1e-5)
                if a.latent_nelbo is not None:
                    assert torch.allclose(a.latent_nelbo, b.latent_nelbo, atol=1e-5)

    def test_state_dict_round_trip(
        self, contract_components: Components, config_data: dict[str, Any], setups: list[TinyModel]
    ) -> None:
        for tm in setups:
            other = self.build(contract_components, config_data, tm.model.latent_denoiser is not None, seed=1).model
            other.load_state_dict(tm.model.state_dict())
            a = tm.model.eval().loss(self.batch(), torch.Generator().manual_seed(5))
            b = other.eval().loss(self.batch(), torch.Generator().manual_seed(5))
            assert torch.equal(a.token_nelbo, b.token_nelbo) and torch.equal(a.loss, b.loss)

    def test_trainable_modules_belong_to_the_model(self, setups: list[TinyModel]) -> None:
        for tm in setups:
            own = {id(p) for p in tm.model.parameters()}
            for stage in (1, 2, 3):
                mods = tm.model.latent.trainable_modules(stage, tm.model.nets)
                assert all(id(p) in own for mod in mods for p in mod.parameters())
                assert tm.model.set_stage(stage), f"stage {stage} trains nothing"

    # -- sampling ---------------------------------------------------------------------------
    def test_sampling_api_shapes(self, setups: list[TinyModel]) -> None:
        b, dev = 2, torch.device("cpu")
        for tm in setups:
            caps, m = tm.capabilities, tm.model.eval()
            if not {"joint", "sequential"} & caps:
                continue
            lat, g = as_protocol(m.latent, JointSampling), torch.Generator().manual_seed(6)
            k, d_in, d_out = m.latent.num_slots, m.latent.input_dim, m.latent.output_dim
            t, s = torch.ones(b, dtype=torch.float64), torch.full((b,), 0.5, dtype=torch.float64)
            x = m.process.prior(b, self.seq_len, dev)
            with torch.no_grad():
                state = lat.sample_prior(b, dev, g)
                inp = lat.network_input(state)
                assert state.shape[:2] == (b, k) and inp.shape == (b, k, d_in)
                assert inp.is_floating_point() and torch.isfinite(inp).all()
                if "joint" in caps:
                    out = m.backbone(x, inp, t.float(), t.float(), None).latent_out
                else:
                    out = as_protocol(lat, SequentialSampling).predict_latent(m.nets, state, t, x)
                assert out.shape == (b, k, d_out)
                new = lat.latent_step(state, out, t, s, g)
                assert new.shape == state.shape and new.dtype == state.dtype
                grid = torch.stack([t, 0.6 * t, 0.1 * t])  # (M + 1, B): a chain's grid, then the same steps one by one
                for i, seed in [(i, seed) for i in range(2) for seed in range(8)]:  # tiny states agree by chance
                    want = lat.latent_step(state, out, grid[i], grid[i + 1], torch.Generator().manual_seed(seed))
                    got = grid_latent_step(lat, grid)(state, out, i, torch.Generator().manual_seed(seed))
                    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12), (
                        "grid_latent_step differs from latent_step"
                    )
                final = lat.latent_finalize(new, out, s, g)
                assert final.shape == state.shape
                if "sequential" in caps:
                    cond, t_y = as_protocol(lat, SequentialSampling).token_condition(final)
                    assert cond.shape == (b, k, d_in) and t_y.shape == (b,)

    def test_samplers_run_and_report_nfe(self, contract_components: Components, setups: list[TinyModel]) -> None:
        for tm in setups:
            ran = False
            for sname, scls in contract_components.registry("sampler").items():
                if not scls.requires <= tm.capabilities:
                    continue
                data: dict[str, Any] = {"name": sname, "steps": self.steps}
                if "latent_steps" in scls.Config.model_fields:
                    data["latent_steps"] = self.latent_steps
                sampler = build_sampler(contract_components, validate_component(contract_components, "sampler", data))
                m = tm.model.eval()
                with count_calls(m) as calls:
                    out = sampler.sample(m, 2, generator=torch.Generator().manual_seed(7))
                assert out.tokens.shape == (2, self.seq_len) and out.tokens.dtype == torch.long
                assert not m.process.is_noised(out.tokens).any() and (out.tokens < self.vocab_size).all()
                assert out.nfe == calls[0], f"{sname}: reported NFE {out.nfe}, network calls {calls[0]}"
                if sname == "joint":
                    assert out.nfe == self.steps + 1
                if sname == "sequential":
                    assert out.info["latent_nfe"] == self.latent_steps + 1
                    assert out.info["token_nfe"] <= self.steps + 1
                    assert out.nfe == out.info["latent_nfe"] + out.info["token_nfe"]
                if out.latents is not None and out.latents.is_floating_point():
                    assert torch.isfinite(out.latents).all()
                again = sampler.sample(m, 2, generator=torch.Generator().manual_seed(7))
                assert torch.equal(out.tokens, again.tokens), f"{sname}: same seed, different samples"
                ran = True
            assert ran, f"no registered sampler accepts capabilities {sorted(tm.capabilities)}"

    # -- the latent path -------------------------------------------------------------------
    plumbing_steps: ClassVar[int] = 150
    """Training steps of the plumbing check (:func:`~ladd_core.testing.plumbing.check_latent_plumbing`)."""

    def test_latent_plumbing(
        self, contract_components: Components, config_data: dict[str, Any], component_cls: type, component_config: Any
    ) -> None:
        """With an oracle encoder (a latent that determines ``x_0``) the token network learns to read the latent.

        Runs on the channel's last variant (with a latent denoiser where that changes its capabilities),
        on random 4-token binary sequences, where nothing but the latent can be learned: a backbone or a
        channel that drops or scrambles the latent stays at a gain of 0.
        """
        with_den = self.variants(component_cls, component_config)[-1]
        tm = build_or_skip(
            lambda: build_tiny_model(
                contract_components,
                config_data,
                vocab_size=2,
                seq_len=4,
                with_denoiser=with_den,
                backbone=self.backbone,
                latent_denoiser=self.latent_denoiser,
            ),
            config_data["name"],
        )
        if "no_latent" in tm.capabilities:
            pytest.skip("no latent")
        if not isinstance(getattr(tm.model.latent, "encoder", None), Encoder):
            pytest.skip(f"{type(tm.model.latent).__name__} holds no encoder to replace by the oracle")
        result = check_latent_plumbing(tm.model, steps=self.plumbing_steps, lr=1e-2)
        assert result.passed, (
            f"with an oracle latent the held-out gain is {result.gain:.4f} bits/token at training times and "
            f"{result.clean_gain:.4f} with the clean latent at all-mask (<= {result.threshold}): the latent does "
            "not reach the token network"
        )

    # -- drawn configs -----------------------------------------------------------------------
    def test_drawn_configs_train(
        self, contract_components: Components, component_name: str, component_cls: type, config_data: dict[str, Any]
    ) -> None:
        from ladd_core.testing.strategies import configs

        model = config_model(contract_components, "latent", component_name)
        refs = {k: v for k, v in config_data.items() if isinstance(v, dict)}
        refs.update(self.drawn_fixed.get(component_name, {}))

        def check(cfg: Any) -> None:
            data = cfg.model_dump(mode="json")
            tm = self.build(contract_components, data, self.variants(component_cls, cfg)[-1])
            out = tm.model.train().loss(self.batch(), torch.Generator().manual_seed(8))
            assert torch.isfinite(out.loss) and torch.isfinite(out.token_nelbo).all()

        run_examples(configs(component_cls.Config, fixed=refs, model=model), check, max_examples=3)
