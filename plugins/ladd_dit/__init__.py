"""ladd_dit plug-in: the ``dit`` backbone and shared transformer layers (:mod:`ladd_dit.layers`).

``dit`` is the single-stream bidirectional transformer denoiser of MDLM: token
ids in, clean-token logits out (capability ``"tokens"``).  Other backbones
(two-stream ``mmdit``, latent-only ``latent-dit``) and encoders reuse
:mod:`ladd_dit.layers`.
"""

from __future__ import annotations

from typing import Any

from ladd_core import hookimpl

__all__ = ["ladd_register_backbones"]


@hookimpl
def ladd_register_backbones(register: Any) -> None:
    """Register the ``dit`` backbone."""
    from ladd_dit.dit import DiT

    register("dit", DiT)
