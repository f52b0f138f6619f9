"""Generic transformer building blocks that backbones and encoders compose.

* :mod:`~ladd_core.nn.rope` -- rotary position embedding (:func:`rope_cache`, :func:`rope_table`, :func:`apply_rope`);
* :mod:`~ladd_core.nn.attention` -- head reshapes, the default SDPA kernel and :func:`attention`, the one
  entry point that calls an injected :class:`~ladd_core.components.attention.AttentionBackend`;
* :mod:`~ladd_core.nn.conditioning` -- :class:`TimestepEmbedder`, adaLN :func:`modulate` / :func:`ada_ln`,
  :func:`times_or_zero`;
* :mod:`~ladd_core.nn.blocks` -- :class:`Mlp`, :class:`TransformerBlock` (pre-LN, optional adaLN-Zero),
  :class:`JointTransformerBlock` (several streams, one joint attention), :class:`FinalLayer`.

Nothing here knows a component by name: the attention kernel is injected, the blocks are plain
``nn.Module`` s whose parameter names are part of every checkpoint built on them.
"""

from __future__ import annotations

from ladd_core.nn.attention import attention, merge_heads, sdpa_attention, split_heads, visible_keys
from ladd_core.nn.blocks import FinalLayer, JointTransformerBlock, Mlp, TransformerBlock, check_heads, embed_mlp
from ladd_core.nn.conditioning import TimestepEmbedder, ada_ln, modulate, times_or_zero
from ladd_core.nn.rope import apply_rope, rope_cache, rope_table

__all__ = [
    "FinalLayer",
    "JointTransformerBlock",
    "Mlp",
    "TimestepEmbedder",
    "TransformerBlock",
    "ada_ln",
    "apply_rope",
    "attention",
    "check_heads",
    "embed_mlp",
    "merge_heads",
    "modulate",
    "rope_cache",
    "rope_table",
    "sdpa_attention",
    "split_heads",
    "times_or_zero",
    "visible_keys",
]
