"""The sampler contract: clean in-range samples, NFE = calls made, reproducible, conditions honoured."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from ladd_core.build import build_sampler
from ladd_core.model import LaddModel
from ladd_core.plugins import Components
from ladd_core.testing._base import ComponentContract, run_examples
from ladd_core.testing._model_contracts import count_calls
from ladd_core.testing.toys import TinyModel, build_tiny_model, config_model, jiggle, tiny_config, tiny_model_data

__all__ = ["SamplerContract"]


class SamplerContract(ComponentContract):
    """A sampler returns clean in-range tokens of the requested length, reports as NFE the network calls it
    made, and is reproducible from its generator.  It runs on a tiny model built around the first
    registered latent channel that satisfies its ``requires`` (``none`` first); set :attr:`latent` to choose.
    """

    kind = "sampler"
    latent: ClassVar[dict[str, Any] | None] = None
    steps: ClassVar[int] = 3
    latent_steps: ClassVar[int] = 2
    num_samples: ClassVar[int] = 2

    @pytest.fixture
    def config_data(self, contract_components: Components, component_name: str) -> dict[str, Any]:
        cls = contract_components.get("sampler", component_name)
        base: dict[str, Any] = {"steps": self.steps}
        if "latent_steps" in cls.Config.model_fields:
            base["latent_steps"] = self.latent_steps
        overrides = {**base, **self.config, **self.configs_by_name.get(component_name, {})}
        return tiny_config(contract_components, "sampler", component_name, overrides)

    @pytest.fixture
    def sampler(self, contract_components: Components, component_config: Any) -> Any:
        return build_sampler(contract_components, component_config)

    @pytest.fixture
    def tiny(self, contract_components: Components, component_cls: type) -> TinyModel:
        needs = component_cls.requires
        if self.latent is not None:
            candidates = [dict(self.latent)]
        else:
            names = sorted(contract_components.registry("latent").list(), key=lambda n: (n != "none", n))
            candidates = [tiny_config(contract_components, "latent", n) for n in names]
        for latent in candidates:
            for with_den in (False, True):
                try:
                    _, caps = tiny_model_data(contract_components, latent, with_denoiser=with_den)
                except (LookupError, ValueError):
                    continue
                if needs <= caps:
                    tm = build_tiny_model(
                        contract_components, latent, vocab_size=self.vocab_size, seq_len=self.seq_len,
                        with_denoiser=with_den,
                    )  # fmt: skip
                    jiggle(tm.model.backbone)
                    return tm
        pytest.skip(f"no registered latent channel gives a model with {sorted(needs)}")

    def _sample(self, sampler: Any, model: LaddModel, seed: int = 0, length: int | None = None) -> Any:
        return sampler.sample(
            model.eval(), self.num_samples, generator=torch.Generator().manual_seed(seed), length=length
        )

    def test_samples_are_clean_and_in_range(self, sampler: Any, tiny: TinyModel) -> None:
        out = self._sample(sampler, tiny.model)
        assert out.tokens.shape == (self.num_samples, self.seq_len) and out.tokens.dtype == torch.long
        assert not tiny.model.process.is_noised(out.tokens).any()
        assert ((out.tokens >= 0) & (out.tokens < self.vocab_size)).all()

    def test_reported_nfe_counts_network_calls(self, sampler: Any, tiny: TinyModel) -> None:
        with count_calls(tiny.model) as calls:
            out = self._sample(sampler, tiny.model)
        assert out.nfe == calls[0] >= 1

    def test_same_seed_same_samples(self, sampler: Any, tiny: TinyModel) -> None:
        assert torch.equal(self._sample(sampler, tiny.model, 3).tokens, self._sample(sampler, tiny.model, 3).tokens)

    def test_length_argument(self, sampler: Any, tiny: TinyModel) -> None:
        out = self._sample(sampler, tiny.model, length=self.seq_len - 2)
        assert out.tokens.shape == (self.num_samples, self.seq_len - 2)

    def test_condition_keeps_the_given_tokens(self, sampler: Any, tiny: TinyModel) -> None:
        from ladd_core.conditioning import Condition

        g = torch.Generator().manual_seed(11)
        tokens = torch.randint(0, self.vocab_size, (1, self.seq_len), generator=g)
        visible = torch.rand(1, self.seq_len, generator=g) < 0.5
        visible[0, -1] = False  # something to generate
        cond = Condition(tokens, visible)
        with count_calls(tiny.model) as calls:
            out = sampler.sample(tiny.model.eval(), self.num_samples, generator=g, condition=cond)
        assert cond.expand(self.num_samples).preserved(out.tokens), "a given token changed"
        assert not tiny.model.process.is_noised(out.tokens).any()
        # NFE = network calls; a latent inferred by the encoder from the given tokens is one more call
        assert calls[0] <= out.nfe <= calls[0] + 1

    def test_drawn_configs_sample(
        self, contract_components: Components, component_name: str, component_cls: type, tiny: TinyModel
    ) -> None:
        from ladd_core.testing.strategies import configs

        model = config_model(contract_components, "sampler", component_name)

        def check(cfg: Any) -> None:
            if component_cls.requires_for(cfg) - tiny.capabilities:
                return  # config validation would reject this config for this model (e.g. another latent mode)
            out = self._sample(build_sampler(contract_components, cfg), tiny.model)
            assert not tiny.model.process.is_noised(out.tokens).any()

        fixed = self.drawn_fixed.get(component_name)
        run_examples(configs(component_cls.Config, fixed=fixed, model=model), check, max_examples=3)
