"""Contract tests that every component of a kind must pass, for plug-in authors and for ladd itself.

Subclass the contract of your kind in a test module, set ``name`` (and optionally
``config``), and pytest runs the whole contract on your component::

    from ladd_core.testing.contracts import LatentContract

    class TestMyLatent(LatentContract):
        name = "my-latent"
        config = {"slots": 2}

The base classes are not collected (their names do not start with ``Test``).  They
need the built-in plug-ins (installed with ladd) for the parts they assemble around
your component.  Hypothesis is imported lazily, inside the tests that draw configs.
See docs/testing.md.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch
from torch import Tensor

from ladd_core.build import build_component
from ladd_core.config.base import ComponentConfig
from ladd_core.numerics import sample_categorical
from ladd_core.plugins import Components
from ladd_core.testing._base import ComponentContract, names_fixture, run_examples
from ladd_core.testing._model_contracts import LatentContract, toy_batch
from ladd_core.testing._network_contracts import BackboneContract, EncoderContract
from ladd_core.testing._sampler_contract import SamplerContract
from ladd_core.testing.toys import build_kind, config_model

__all__ = [
    "BackboneContract",
    "ComponentContract",
    "EncoderContract",
    "LatentContract",
    "ObjectiveContract",
    "SamplerContract",
    "ScheduleContract",
    "TokenProcessContract",
    "names_fixture",
]


def _padded_mask(batch: int, length: int) -> Tensor:
    """``(B, L)`` attention mask: row ``b`` has ``b % 3`` padding positions at the end (at least one real token)."""
    return toy_batch(2, batch, length).attention_mask


class ScheduleContract(ComponentContract):
    """``alpha`` maps ``[0, 1]`` into ``[0, 1]``, is non-increasing with the right ends, ``alpha'`` is its
    derivative, the masked NELBO weight is finite and ``>= 0`` on ``[t_min, 1]``, ``inverse`` (when
    ``"invertible"``) undoes ``alpha``, and times outside ``[0, 1]`` raise ``ValueError``."""

    kind = "schedule"
    t_min: ClassVar[float] = 1e-4

    @pytest.fixture
    def schedule(self, contract_components: Components, component_config: ComponentConfig) -> Any:
        return build_component(contract_components, "schedule", component_config)

    def check_schedule(self, sched: Any) -> None:
        """Every property of a schedule, for one built instance."""
        t = torch.linspace(0, 1, 257, dtype=torch.float64)
        a = sched.alpha(t)
        assert a.shape == t.shape and a.dtype == t.dtype and torch.isfinite(a).all()
        assert ((a >= 0) & (a <= 1)).all(), "alpha must lie in [0, 1]"
        assert (a[1:] <= a[:-1] + 1e-12).all(), "alpha must be non-increasing"
        eps = float(getattr(sched.config, "eps", 1e-2))
        assert a[0] >= 1 - eps - 1e-9 and a[-1] <= eps + 1e-9, f"alpha(0)={a[0]:.3g}, alpha(1)={a[-1]:.3g}"
        inner = torch.linspace(0.02, 0.98, 49, dtype=torch.float64)
        h = 1e-6
        fd = (sched.alpha(inner + h) - sched.alpha(inner - h)) / (2 * h)
        da = sched.alpha_derivative(inner)
        assert (da <= 0).all() and torch.allclose(da, fd, rtol=1e-4, atol=1e-6), "alpha_derivative != d alpha/dt"
        w = sched.masked_elbo_weight(torch.linspace(self.t_min, 1, 129, dtype=torch.float64))
        assert torch.isfinite(w).all() and (w >= -1e-12).all(), "masked NELBO weight must be finite and >= 0"
        if "invertible" in type(sched).capabilities:
            back = sched.alpha(sched.inverse(sched.alpha(inner)))
            assert torch.allclose(back, sched.alpha(inner), atol=1e-9), "alpha(inverse(alpha(t))) != alpha(t)"
        t32 = torch.rand(2, 3, generator=torch.Generator().manual_seed(0))
        assert sched.alpha(t32).shape == (2, 3) and sched.alpha(t32).dtype == torch.float32

    def test_schedule_properties(self, schedule: Any) -> None:
        self.check_schedule(schedule)

    def test_schedule_properties_on_drawn_configs(
        self, contract_components: Components, component_name: str, config_data: dict[str, Any]
    ) -> None:
        from ladd_core.testing.strategies import configs

        model = config_model(contract_components, "schedule", component_name)
        cls = contract_components.get("schedule", component_name)

        def check(cfg: Any) -> None:
            self.check_schedule(build_component(contract_components, "schedule", cfg))

        run_examples(configs(cls.Config, fixed=self.drawn_fixed.get(component_name), model=model), check)

    @pytest.mark.parametrize("bad", [-0.1, 1.1, float("nan"), float("inf")])
    def test_times_outside_unit_interval_raise(self, schedule: Any, bad: float) -> None:
        t = torch.tensor([0.5, bad], dtype=torch.float64)
        for fn in (schedule.alpha, schedule.alpha_derivative, schedule.masked_elbo_weight):
            with pytest.raises(ValueError):
                fn(t)


class TokenProcessContract(ComponentContract):
    """Forward samples keep padding and un-noised positions, ``log_probs`` are normalised and put no mass
    on noise, the reverse step never un-reveals a token, ``finalize`` removes all noise."""

    kind = "token_process"
    t_min: ClassVar[float] = 1e-4

    @pytest.fixture
    def process(self, contract_components: Components, component_config: ComponentConfig) -> Any:
        return build_component(contract_components, "token_process", component_config, vocab_size=self.vocab_size)

    def _noised(self, process: Any, seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Any, Tensor]:
        g = torch.Generator().manual_seed(seed)
        b, n = self.batch_size, self.seq_len
        x0 = torch.randint(0, self.vocab_size, (b, n), generator=g)
        mask = _padded_mask(b, n)
        t = self.t_min + (1 - self.t_min) * torch.rand(b, generator=g)
        out = process.forward_sample(x0, t, mask, g)
        logits = 2 * torch.randn(b, n, process.num_classes, generator=g)
        return x0, mask, t, out, process.log_probs(logits, out.x_t)

    def test_num_classes_covers_the_vocabulary(self, process: Any) -> None:
        assert process.num_classes >= self.vocab_size

    def test_forward_sample_keeps_padding_and_clean_positions(self, process: Any) -> None:
        x0, mask, _, out, _ = self._noised(process)
        assert out.x_t.shape == x0.shape and out.x_t.dtype == torch.long and out.noised.dtype == torch.bool
        assert not out.noised[~mask].any(), "padding must never be noised"
        assert torch.equal(out.x_t[~out.noised], x0[~out.noised])
        assert torch.equal(process.is_noised(out.x_t)[mask], out.noised[mask])

    def test_log_probs_are_normalised_and_never_noise(self, process: Any) -> None:
        _, _, _, out, lp = self._noised(process)
        assert lp.dtype == torch.float32 and torch.isfinite(lp).all()
        assert torch.allclose(lp.double().logsumexp(-1), torch.zeros(()).double(), atol=1e-5)
        clean = ~process.is_noised(out.x_t)
        assert torch.equal(lp.argmax(-1)[clean], out.x_t[clean]), "un-noised positions must be a Dirac (SUBS)"
        draw = sample_categorical(lp.double().exp(), torch.Generator().manual_seed(1))
        assert not process.is_noised(draw).any() and (draw < self.vocab_size).all()

    def test_elbo_weight_finite_and_nonnegative(self, process: Any) -> None:
        w = process.elbo_weight(torch.linspace(self.t_min, 1, 65, dtype=torch.float64))
        assert torch.isfinite(w).all() and (w >= 0).all()

    def test_prior_is_fully_noised(self, process: Any) -> None:
        x = process.prior(2, self.seq_len, torch.device("cpu"))
        assert x.shape == (2, self.seq_len) and process.is_noised(x).all()

    def test_reverse_step_never_unreveals(self, process: Any) -> None:
        _, _, t, out, lp = self._noised(process)
        x_s = process.reverse_step(out.x_t, lp, t, t * 0.5, torch.Generator().manual_seed(2))
        before, after = process.is_noised(out.x_t), process.is_noised(x_s)
        assert torch.equal(x_s[~before], out.x_t[~before]), "revealed tokens must stay"
        assert not (after & ~before).any(), "a revealed token was noised again"
        assert (x_s[before & ~after] < self.vocab_size).all()

    def test_finalize_removes_all_noise(self, process: Any) -> None:
        _, _, _, out, lp = self._noised(process)
        x = process.finalize(out.x_t, lp, torch.Generator().manual_seed(3))
        assert not process.is_noised(x).any()
        keep = ~process.is_noised(out.x_t)
        assert torch.equal(x[keep], out.x_t[keep])

    def test_noised_weights_match_log_probs(self, process: Any) -> None:
        _, _, _, out, _ = self._noised(process, seed=7)
        g = torch.Generator().manual_seed(7)
        logits = 2 * torch.randn(*out.x_t.shape, process.num_classes, generator=g)
        where = process.is_noised(out.x_t).nonzero(as_tuple=True)
        w = process.noised_weights(logits[where], out.x_t, where)  # (n, C') float64
        p = w / w.sum(-1, keepdim=True)
        full = process.log_probs(logits, out.x_t)[where].double().exp()  # (n, C)
        c = p.shape[-1]
        assert p.dtype == torch.float64 and c <= full.shape[-1] and p.shape[0] == full.shape[0]
        assert torch.allclose(p, full[:, :c], atol=1e-6), "noised_weights must be proportional to exp(log_probs)"
        assert float(full[:, c:].sum()) < 1e-6, "classes left out by noised_weights must have probability 0"

    def test_grid_step_matches_reverse_step(self, process: Any) -> None:
        _, _, _, out, lp = self._noised(process)
        b = out.x_t.shape[0]
        times = torch.linspace(1, self.t_min, 5, dtype=torch.float64)[:, None].expand(-1, b)  # (N + 1, B)
        step = process.grid_step(times)
        for i in range(4):
            a = step(out.x_t, lp, i, torch.Generator().manual_seed(i))
            ref = process.reverse_step(out.x_t, lp, times[i], times[i + 1], torch.Generator().manual_seed(i))
            assert torch.equal(a, ref), f"grid_step differs from reverse_step at step {i}"

    def test_same_generator_same_samples(self, process: Any) -> None:
        a, b = self._noised(process, seed=5), self._noised(process, seed=5)
        assert torch.equal(a[3].x_t, b[3].x_t)

    def test_forward_marginal_of_absorbing_processes(self, process: Any) -> None:
        if "absorbing" not in type(process).capabilities:
            pytest.skip("marginal check applies to absorbing processes")
        n = 20_000
        for tv in (0.1, 0.5, 0.9):
            t = torch.full((1,), tv)
            x0 = torch.zeros(1, n, dtype=torch.long)
            out = process.forward_sample(x0, t, torch.ones(1, n, dtype=torch.bool), torch.Generator().manual_seed(7))
            p = 1 - float(process.schedule.alpha(t.double()))
            sd = (p * (1 - p) / n) ** 0.5
            assert abs(float(out.noised.double().mean()) - p) < 6 * sd + 1e-9

    def test_empty_vocabulary_is_rejected(self, contract_components: Components, component_config: Any) -> None:
        with pytest.raises(ValueError):
            build_component(contract_components, "token_process", component_config, vocab_size=0)


class ObjectiveContract(ComponentContract):
    """Per-example losses and NELBO are finite, ``>= 0``, zero for a perfect denoiser, blind to padding,
    equivariant under batch permutation; training times lie in ``[t_min, 1]``."""

    kind = "objective"
    process_config: ClassVar[dict[str, Any]] = {"name": "masked"}

    @pytest.fixture
    def objective(self, contract_components: Components, component_config: ComponentConfig) -> Any:
        return build_component(contract_components, "objective", component_config)

    @pytest.fixture
    def process(self, contract_components: Components) -> Any:
        return build_kind(contract_components, "token_process", dict(self.process_config), vocab_size=self.vocab_size)

    def _inputs(self, objective: Any, process: Any, seed: int = 0) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(seed)
        b, n = self.batch_size, self.seq_len
        x0 = torch.randint(0, self.vocab_size, (b, n), generator=g)
        mask = _padded_mask(b, n)
        t = objective.sample_times(b, torch.device("cpu"), g)
        x_t = process.forward_sample(x0, t, mask, g).x_t
        logits = 2 * torch.randn(b, n, process.num_classes, generator=g)
        return {"log_probs": process.log_probs(logits, x_t), "x0": x0, "x_t": x_t, "t": t, "attention_mask": mask}

    def test_outputs_finite_and_nonnegative(self, objective: Any, process: Any) -> None:
        inp = self._inputs(objective, process)
        out = objective(process, **inp)
        for v in (out.loss, out.nelbo, out.num_tokens):
            assert v.shape == (self.batch_size,) and torch.isfinite(v).all()
        assert (out.nelbo >= 0).all() and (out.loss >= 0).all()
        assert torch.equal(out.num_tokens, inp["attention_mask"].sum(-1).to(out.num_tokens.dtype))

    def test_perfect_denoiser_scores_zero(self, objective: Any, process: Any) -> None:
        inp = self._inputs(objective, process)
        perfect = torch.full_like(inp["log_probs"], -1e9).scatter(-1, inp["x0"][..., None], 0.0)
        out = objective(process, **{**inp, "log_probs": perfect})
        assert torch.allclose(out.nelbo, torch.zeros_like(out.nelbo)) and torch.allclose(out.loss, out.loss * 0)

    def test_padding_is_ignored(self, objective: Any, process: Any) -> None:
        inp = self._inputs(objective, process)
        pad = ~inp["attention_mask"]
        other = dict(inp)
        other["x0"] = torch.where(pad, (inp["x0"] + 1) % self.vocab_size, inp["x0"])
        other["x_t"] = torch.where(pad, other["x0"], inp["x_t"])
        other["log_probs"] = torch.where(pad[..., None], inp["log_probs"].flip(-1), inp["log_probs"])
        a, b = objective(process, **inp), objective(process, **other)
        assert torch.allclose(a.nelbo, b.nelbo) and torch.allclose(a.loss, b.loss)

    def test_batch_permutation_equivariance(self, objective: Any, process: Any) -> None:
        inp = self._inputs(objective, process)
        perm = torch.randperm(self.batch_size, generator=torch.Generator().manual_seed(1))
        a = objective(process, **inp)
        b = objective(process, **{k: v[perm] for k, v in inp.items()})
        assert torch.allclose(a.nelbo[perm], b.nelbo) and torch.allclose(a.loss[perm], b.loss)

    def test_training_times(self, objective: Any) -> None:
        t = objective.sample_times(64, torch.device("cpu"), torch.Generator().manual_seed(0))
        again = objective.sample_times(64, torch.device("cpu"), torch.Generator().manual_seed(0))
        assert t.shape == (64,) and torch.equal(t, again)
        assert (t >= objective.config.t_min).all() and (t <= 1).all()

    def test_gradients_are_finite(self, objective: Any, process: Any) -> None:
        inp = self._inputs(objective, process)
        lp = inp["log_probs"].clone().requires_grad_(True)
        objective(process, **{**inp, "log_probs": lp}).loss.sum().backward()
        assert lp.grad is not None and torch.isfinite(lp.grad).all()
