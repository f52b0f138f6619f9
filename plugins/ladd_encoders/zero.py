"""``zero``: the null-latent ablation (same network as ``transformer``, output multiplied by 0)."""

from __future__ import annotations

from typing import Literal

from torch import Tensor

from ladd_encoders.transformer import TransformerEncoder

__all__ = ["ZeroEncoder"]


class ZeroEncoder(TransformerEncoder):
    """:class:`~ladd_encoders.transformer.TransformerEncoder` whose output is multiplied by 0.

    The latent is identically zero but the parameters (and count) and the computation
    graph are those of ``transformer``, so comparing the two separates "information in
    the latent" from "extra parameters / compute".
    """

    class Config(TransformerEncoder.Config):
        """Configuration of the ``zero`` encoder (the fields of ``transformer``)."""

        name: Literal["zero"] = "zero"  # type: ignore[assignment]

    config: Config

    def forward(self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None = None) -> Tensor:
        """``(B, K, d)`` zeros, computed as ``0 * transformer(x0)`` (gradients defined, all zero)."""
        return super().forward(x0, attention_mask, hide) * 0.0
