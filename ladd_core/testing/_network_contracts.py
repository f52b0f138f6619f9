"""Contracts of networks: :class:`BackboneContract` and :class:`EncoderContract`."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch
from torch import Tensor

from ladd_core.build import build_component
from ladd_core.components.backbones import BackboneSpec
from ladd_core.config.base import ComponentConfig
from ladd_core.plugins import Components
from ladd_core.testing._base import ComponentContract, build_or_skip
from ladd_core.testing._model_contracts import toy_batch
from ladd_core.testing.toys import jiggle

__all__ = ["BackboneContract", "EncoderContract"]


def _padded_mask(batch: int, length: int) -> Tensor:
    return toy_batch(2, batch, length).attention_mask


class _NetworkContract(ComponentContract):
    """Shared checks of networks: permutation equivariance, padding blindness, state-dict round trip."""

    per_position_first: ClassVar[bool] = True
    """Whether the first output is per token position (then only its real positions are compared)."""

    def outputs(self, module: Any, inputs: dict[str, Any]) -> list[Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def make(self, contract_components: Components, component_config: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _same(a: list[Tensor], b: list[Tensor], atol: float = 1e-5) -> bool:
        return all(torch.allclose(x, y, atol=atol) for x, y in zip(a, b, strict=True))

    def test_batch_permutation_equivariance(self, module: Any, inputs: dict[str, Any]) -> None:
        perm = torch.randperm(self.batch_size, generator=torch.Generator().manual_seed(1))
        a = self.outputs(module, inputs)
        b = self.outputs(module, {k: (v[perm] if isinstance(v, Tensor) else v) for k, v in inputs.items()})
        assert self._same([x[perm] for x in a], b)

    def test_padding_content_is_ignored(self, module: Any, inputs: dict[str, Any]) -> None:
        mask, ids = inputs.get("attention_mask"), inputs.get("tokens")
        if mask is None or ids is None:
            pytest.skip("no token input")
        junk = torch.where(mask, ids, (ids + 1) % self.vocab_size)
        a, b = self.outputs(module, inputs), self.outputs(module, {**inputs, "tokens": junk})
        if self.per_position_first:
            keep = mask[..., None]
            assert torch.allclose(a[0] * keep, b[0] * keep, atol=1e-5), "outputs at real positions depend on padding"
            a, b = a[1:], b[1:]
        assert self._same(a, b), "outputs depend on the ids at padding positions"

    def test_state_dict_round_trip(
        self, module: Any, inputs: dict[str, Any], contract_components: Components, component_config: Any
    ) -> None:
        if not list(module.state_dict()):
            pytest.skip("no state")
        torch.manual_seed(12345)
        other = self.make(contract_components, component_config).eval()
        other.load_state_dict(module.state_dict())
        assert self._same(self.outputs(module, inputs), self.outputs(other, inputs), atol=0)


class BackboneContract(_NetworkContract):
    """Output shapes and dtypes match the declared capabilities and the spec; outputs are finite, blind to
    padding ids, permutation-equivariant, time-independent when declared so; state dicts round-trip."""

    kind = "backbone"
    num_slots: ClassVar[int] = 2
    latent_in_dim: ClassVar[int] = 3
    latent_out_dim: ClassVar[int] = 5

    def spec_for(self, caps: frozenset[str]) -> BackboneSpec:
        latent = bool({"latent_stream", "latent_only"} & caps)
        return BackboneSpec(
            num_classes=self.vocab_size + 1,
            seq_len=self.seq_len,
            num_slots=self.num_slots if latent else 0,
            latent_in_dim=self.latent_in_dim if latent else 0,
            latent_out_dim=self.latent_out_dim if latent else 0,
        )

    def make(self, contract_components: Components, component_config: Any) -> Any:
        caps = contract_components.get("backbone", component_config.name).capabilities
        spec = self.spec_for(caps)
        return build_or_skip(
            lambda: build_component(contract_components, "backbone", component_config, spec=spec),
            component_config.name,
        )

    @pytest.fixture
    def module(self, contract_components: Components, component_config: ComponentConfig) -> Any:
        return jiggle(self.make(contract_components, component_config)).eval()

    @pytest.fixture
    def inputs(self, module: Any) -> dict[str, Any]:
        caps, spec, b = type(module).capabilities, module.spec, self.batch_size
        g = torch.Generator().manual_seed(0)
        out: dict[str, Any] = {"tokens": None, "latents": None, "attention_mask": None}
        if "tokens" in caps:
            out["tokens"] = torch.randint(0, spec.num_classes, (b, spec.seq_len), generator=g)
            out["attention_mask"] = _padded_mask(b, spec.seq_len)
        if {"latent_stream", "latent_only"} & caps:
            out["latents"] = torch.randn(b, spec.num_slots, spec.latent_in_dim, generator=g)
        out["t_x"], out["t_y"] = torch.rand(b, generator=g), torch.rand(b, generator=g)
        return out

    def outputs(self, module: Any, inputs: dict[str, Any]) -> list[Tensor]:
        out = module(inputs["tokens"], inputs["latents"], inputs["t_x"], inputs["t_y"], inputs["attention_mask"])
        return [v for v in (out.token_logits, out.latent_out) if v is not None]

    def test_output_shapes_follow_capabilities(self, module: Any, inputs: dict[str, Any]) -> None:
        caps, spec, b = type(module).capabilities, module.spec, self.batch_size
        out = module(inputs["tokens"], inputs["latents"], inputs["t_x"], inputs["t_y"], inputs["attention_mask"])
        if "tokens" in caps:
            assert out.token_logits is not None and out.token_logits.dtype == torch.float32
            assert out.token_logits.shape == (b, spec.seq_len, spec.num_classes)
            assert torch.isfinite(out.token_logits).all()
        if {"latent_stream", "latent_only"} & caps:
            assert out.latent_out is not None and out.latent_out.shape == (b, spec.num_slots, spec.latent_out_dim)
            assert torch.isfinite(out.latent_out).all()

    def test_time_independence_is_honest(self, module: Any, inputs: dict[str, Any]) -> None:
        if module.time_conditioned:
            pytest.skip("time-conditioned")
        other = {**inputs, "t_x": 1 - inputs["t_x"]}
        assert self._same(self.outputs(module, inputs)[:1], self.outputs(module, other)[:1])

    def test_gradients_reach_the_parameters(self, module: Any, inputs: dict[str, Any]) -> None:
        module.train()
        loss = sum((o.float() ** 2).mean() for o in self.outputs(module, inputs))
        loss.backward()
        grads = [p.grad for p in module.parameters() if p.requires_grad and p.grad is not None]
        assert grads and all(torch.isfinite(gr).all() for gr in grads) and any(gr.abs().sum() > 0 for gr in grads)


class EncoderContract(_NetworkContract):
    """``(B, K, d)`` finite outputs, blind to padding ids and to the ids of hidden positions,
    permutation-equivariant; state dicts round-trip."""

    kind = "encoder"
    per_position_first = False

    def make(self, contract_components: Components, component_config: Any) -> Any:
        return build_or_skip(
            lambda: build_component(
                contract_components,
                "encoder",
                component_config,
                vocab_size=self.vocab_size,
                seq_len=self.seq_len,
                detokenize=lambda ids: " ".join(map(str, ids)),
            ),
            component_config.name,
        )

    @pytest.fixture
    def module(self, contract_components: Components, component_config: ComponentConfig) -> Any:
        enc = self.make(contract_components, component_config)
        return (jiggle(enc) if enc.trainable else enc).eval()

    @pytest.fixture
    def inputs(self) -> dict[str, Any]:
        g = torch.Generator().manual_seed(0)
        tokens = torch.randint(0, self.vocab_size, (self.batch_size, self.seq_len), generator=g)
        return {"tokens": tokens, "attention_mask": _padded_mask(self.batch_size, self.seq_len), "hide": None}

    def outputs(self, module: Any, inputs: dict[str, Any]) -> list[Tensor]:
        return [module(inputs["tokens"], inputs["attention_mask"], inputs["hide"])]

    def test_output_shape(self, module: Any, inputs: dict[str, Any]) -> None:
        (y,) = self.outputs(module, inputs)
        assert y.shape == (self.batch_size, module.num_slots, module.dim) and torch.isfinite(y).all()

    def test_hidden_positions_are_withheld(self, module: Any, inputs: dict[str, Any]) -> None:
        mask, ids = inputs["attention_mask"], inputs["tokens"]
        hide = mask & (torch.arange(self.seq_len)[None, :] % 2 == 0)
        changed = torch.where(hide, (ids + 1) % self.vocab_size, ids)
        a = self.outputs(module, {**inputs, "hide": hide})
        b = self.outputs(module, {**inputs, "hide": hide, "tokens": changed})
        assert self._same(a, b), "the encoder reads token ids at hidden positions"
