"""The capability vocabulary: what components offer and what they need, as one typed enum.

Components declare capabilities (``LatentChannel.capabilities_for``, ``Backbone.capabilities``,
``DataSource.capabilities``, ``Schedule.capabilities``) and requirements (``Sampler.requires``,
``Metric.requires``, ``LatentChannel.backbone_requires``).  :class:`Capability` is a ``StrEnum``:
its members compare and hash equal to their strings, so a plug-in that writes ``"joint"`` and one that
writes ``Capability.JOINT`` mean the same thing; the enum gives the vocabulary one home, a scope
(what kind of component offers it) and a meaning.  A plug-in may use a string outside the enum for a
capability of its own making (between its own components); ``ladd capabilities`` lists those too.

The latent capabilities ``joint``, ``sequential`` and ``codes`` are backed by typed protocols
(:data:`ladd_core.components.latent_protocols.LATENT_PROTOCOLS`): a channel offers them by implementing
the protocol's methods, and a claim without them is rejected.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

__all__ = ["Capability", "Scope"]

Scope = Literal["model", "network", "data", "schedule", "resource"]
"""Who offers a capability: the assembled model (latent channel + networks), a network (backbone), a data
source, a schedule, or the evaluation (a resource such as a judge model)."""


class Capability(StrEnum):
    """A capability; ``.scope`` says who offers it, ``.meaning`` what a component promises by declaring it."""

    NO_LATENT = "no_latent"
    JOINT = "joint"
    SEQUENTIAL = "sequential"
    JOINT_BOUND = "joint_bound"
    CODES = "codes"
    LATENT_DENOISER = "latent_denoiser"
    TOKENS = "tokens"
    LATENT_STREAM = "latent_stream"
    LATENT_ONLY = "latent_only"
    KNOWN_GENERATOR = "known_generator"
    TEXT = "text"
    INVERTIBLE = "invertible"
    MODEL = "model"
    JUDGE = "judge"
    ZERO_SHOT = "zero_shot"
    PROMPT = "prompt"

    @property
    def scope(self) -> Scope:
        return _INFO[self][0]

    @property
    def meaning(self) -> str:
        return _INFO[self][1]


_INFO: dict[Capability, tuple[Scope, str]] = {
    Capability.NO_LATENT: ("model", "token-only model (MDLM): token-only samplers apply"),
    Capability.JOINT: (
        "model",
        "one network call denoises tokens and latent together; the channel implements JointSampling "
        "(sample_prior, network_input, latent_step, latent_finalize)",
    ),
    Capability.SEQUENTIAL: (
        "model",
        "the latent can be generated first, then the tokens given it; the channel implements SequentialSampling "
        "(JointSampling + predict_latent, token_condition, prompt_latent)",
    ),
    Capability.JOINT_BOUND: ("model", "token bound + latent bound term is a valid bound on -log p(x)"),
    Capability.CODES: (
        "model",
        "the latent is a tuple of discrete codes; the channel implements CodeChannel (num_codes, encode_codes)",
    ),
    Capability.LATENT_DENOISER: ("model", "the model has a separate latent-only denoiser network"),
    Capability.TOKENS: ("network", "reads token ids and returns token logits"),
    Capability.LATENT_STREAM: ("network", "also reads latents (B, K, d_in) and returns a latent output"),
    Capability.LATENT_ONLY: ("network", "reads only latents (a separate latent denoiser)"),
    Capability.KNOWN_GENERATOR: ("data", "exact log p(x) of the data-generating process (log_likelihood)"),
    Capability.TEXT: ("data", "the tokenizer decodes to natural text"),
    Capability.INVERTIBLE: ("schedule", "t_from_alpha inverts the schedule"),
    Capability.MODEL: ("resource", "the evaluated model itself (likelihood bounds, probes)"),
    Capability.JUDGE: ("resource", "a causal-LM judge for generative perplexity (ladd eval --judge)"),
    Capability.ZERO_SHOT: ("resource", "a second corpus for the zero-shot bound (ladd eval --zero-shot)"),
    Capability.PROMPT: ("resource", "the conditional task: held-out prompts (ladd eval --prompt-len)"),
}
