"""The typed interfaces behind a latent channel's capabilities.

A latent capability is a promise of methods.  Each such capability is backed by a
``runtime_checkable`` :class:`~typing.Protocol` here:

* ``"joint"`` -- :class:`JointSampling` (``sample_prior``, ``network_input``, ``latent_step``,
  ``latent_finalize``): one network call denoises tokens and latent together;
* ``"sequential"`` -- :class:`SequentialSampling` (the above plus ``predict_latent``,
  ``token_condition``, ``prompt_latent``): the latent is generated first, then the tokens given it;
* ``"codes"`` -- :class:`CodeChannel` (``num_codes``, ``encode_codes``): the latent is a tuple of
  discrete codes.

:meth:`~ladd_core.components.latents.LatentChannel.capabilities_for` starts from the protocols a
channel class implements (:func:`implemented_capabilities`); a channel narrows that set by its
config and adds claims no protocol backs (``"joint_bound"``, ``"no_latent"``).  Code that calls the
methods narrows by type: ``isinstance(model.latent, JointSampling)`` or :func:`as_protocol`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

import torch
from torch import Tensor

from ladd_core.capability import Capability

if TYPE_CHECKING:
    from ladd_core.components.latents import Networks

__all__ = [
    "LATENT_PROTOCOLS",
    "CodeChannel",
    "GridLatentSampling",
    "JointSampling",
    "LatentGridStep",
    "SequentialSampling",
    "as_protocol",
    "grid_latent_step",
    "implemented_capabilities",
    "missing_members",
    "protocol_members",
    "unbacked_claims",
]


@runtime_checkable
class JointSampling(Protocol):
    """A latent the ``joint`` schedule denoises together with the tokens (capability ``"joint"``)."""

    def sample_prior(self, batch_size: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
        """Fully noised latent state: ``(B, K, d)`` Gaussian noise, or ``(B, K)`` all-mask codes."""
        ...

    def network_input(self, state: Tensor) -> Tensor:
        """What the backbone's latent stream reads for ``state``: ``(B, K, input_dim)``."""
        ...

    def latent_step(
        self, state: Tensor, latent_out: Tensor, t: Tensor, s: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """One reverse step ``t -> s`` (``(B,)`` each) of the latent given the network's ``latent_out``."""
        ...

    def latent_finalize(
        self, state: Tensor, latent_out: Tensor, t: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Noise removal: the clean latent from the last prediction ``latent_out`` made at ``state``'s time ``t (B,)``.

        The time is explicit so that a channel keeps no sampler state (eps-prediction needs it).
        """
        ...


LatentGridStep = Callable[[Tensor, Tensor, int, "torch.Generator | None"], Tensor]
"""``step(state, latent_out, i, generator) -> state``: latent step ``i`` of a fixed grid (:func:`grid_latent_step`)."""


@runtime_checkable
class GridLatentSampling(Protocol):
    """A latent that prepares its reverse steps for a whole time grid (optional: the built-in absorbing and
    Gaussian channels have it; :func:`grid_latent_step` falls back to ``latent_step`` for the others)."""

    def grid_latent_step(self, times: Tensor) -> LatentGridStep:
        """The reverse step along ``times (M + 1, B)`` float64: ``step(state, latent_out, i, generator)`` moves
        ``times[i] -> times[i + 1]`` exactly as ``latent_step`` would, with per-step coefficients computed once."""
        ...


def grid_latent_step(latent: JointSampling, times: Tensor) -> LatentGridStep:
    """``latent``'s reverse step along the grid ``times (M + 1, B)``: its own :class:`GridLatentSampling` step
    where it has one, else ``latent_step`` at the grid's rows."""
    if isinstance(latent, GridLatentSampling):
        return latent.grid_latent_step(times)
    rows = times.unbind(0)

    def step(state: Tensor, latent_out: Tensor, i: int, generator: torch.Generator | None) -> Tensor:
        return latent.latent_step(state, latent_out, rows[i], rows[i + 1], generator)

    return step


@runtime_checkable
class SequentialSampling(JointSampling, Protocol):
    """A latent generated first, then the tokens given it (capability ``"sequential"``)."""

    def predict_latent(self, nets: Networks, state: Tensor, t_y: Tensor, token_prior: Tensor) -> Tensor:
        """Latent prediction for the latent-first chain of the sequential schedule (one NFE).

        ``token_prior (B, L)`` is the token state the latent is generated given: the fully noised
        sequence (all masks) when sampling unconditionally, the visible tokens of a condition (prompt,
        infilling template) with the rest masked otherwise.  Channels that generate the latent with
        the joint network (Di-LADD) read it; others use ``nets.latent_denoiser``.
        """
        ...

    def token_condition(self, state: Tensor) -> tuple[Tensor, Tensor]:
        """``(latent_input (B, K, input_dim), t_y (B,))`` that conditions the token chain on a clean latent."""
        ...

    def prompt_latent(self, nets: Networks, tokens: Tensor, visible: Tensor) -> Tensor | None:
        """A clean latent inferred directly from the visible tokens of a condition, or ``None``.

        Used by the sequential schedule when sampling with a condition: a channel whose latent
        chain cannot read tokens (an unconditional latent denoiser) returns its latent given the
        visible tokens here (one NFE); ``None`` means the latent chain of :meth:`predict_latent`,
        fed ``tokens``, is the conditioned route.

        Args:
            nets: the networks.
            tokens: ``(B, L)`` the given ids at ``visible``, masks elsewhere.
            visible: ``(B, L)`` bool.
        """
        ...


@runtime_checkable
class CodeChannel(Protocol):
    """A latent of discrete codes (capability ``"codes"``), e.g. for codebook diagnostics."""

    @property
    def num_codes(self) -> int:
        """C, the codebook size (ids ``0 .. C-1``; a mask id, if any, is not counted)."""
        ...

    def encode_codes(self, x0: Tensor, attention_mask: Tensor) -> Tensor:
        """The codes of clean sequences ``x0 (B, L)`` -> ``(B, K)`` long, deterministically, without updates."""
        ...


LATENT_PROTOCOLS: dict[str, type] = {
    Capability.JOINT: JointSampling,
    Capability.SEQUENTIAL: SequentialSampling,
    Capability.CODES: CodeChannel,
}
"""The latent capabilities backed by a protocol, and the protocol."""

_P = TypeVar("_P")


def protocol_members(proto: type) -> tuple[str, ...]:
    """The public members a protocol asks for, its bases' first (in definition order)."""
    names: list[str] = []
    for base in reversed(proto.__mro__):
        if base in (object, Protocol, Generic):
            continue
        names += [n for n in vars(base) if not n.startswith("_") and n not in names]
    return tuple(names)


def missing_members(cls: type, proto: type) -> list[str]:
    """The members of ``proto`` that class ``cls`` does not define (empty: it implements ``proto``)."""
    return [n for n in protocol_members(proto) if getattr(cls, n, None) is None]


def implemented_capabilities(cls: type) -> frozenset[str]:
    """The protocol-backed capabilities whose protocol class ``cls`` implements."""
    return frozenset(cap for cap, proto in LATENT_PROTOCOLS.items() if not missing_members(cls, proto))


def unbacked_claims(cls: type, capabilities: Iterable[str]) -> list[str]:
    """One message per capability in ``capabilities`` whose protocol ``cls`` does not implement."""
    out = []
    for cap in capabilities:
        proto = LATENT_PROTOCOLS.get(cap)
        missing = missing_members(cls, proto) if proto is not None else []
        if proto is not None and missing:
            name = f"{cls.__name__} declares {str(cap)!r} but does not implement {proto.__name__}"
            out.append(f"{name}: missing {', '.join(missing)}")
    return out


def as_protocol(latent: object, proto: type[_P]) -> _P:
    """``latent`` typed as ``proto``; ``TypeError`` naming the missing methods when it does not implement it."""
    if not isinstance(latent, proto):
        missing = missing_members(type(latent), proto)
        raise TypeError(f"{type(latent).__name__} does not implement {proto.__name__}: missing {', '.join(missing)}")
    return latent
