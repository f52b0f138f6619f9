"""Multi-head attention plumbing: head reshapes, the default kernel (PyTorch SDPA) and the one entry point.

Every kernel takes ``q (B, H, Lq, Dh)``, ``k, v (B, H, Lk, Dh)`` and an optional ``key_mask (B, Lk)``
(bool, ``True`` at real keys) and returns ``(B, H, Lq, Dh)`` in ``q``'s dtype.  A row with no real key
attends to every key (finite, never NaN).  Other kernels are
:class:`~ladd_core.components.attention.AttentionBackend` components, injected into the blocks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ladd_core.components.attention import AttentionBackend

__all__ = ["CPU_HEAD_ALIGN", "attention", "merge_heads", "sdpa_attention", "split_heads", "visible_keys"]


def split_heads(x: Tensor, heads: int) -> Tensor:
    """``(B, L, H*Dh) -> (B, H, L, Dh)``."""
    b, n, d = x.shape
    return x.view(b, n, heads, d // heads).transpose(1, 2)  # (B, H, L, Dh)


def merge_heads(x: Tensor) -> Tensor:
    """``(B, H, L, Dh) -> (B, L, H*Dh)``."""
    b, h, n, dh = x.shape
    return x.transpose(1, 2).reshape(b, n, h * dh)  # (B, L, H*Dh)


def visible_keys(key_mask: Tensor) -> Tensor:
    """``(B, Lk)`` bool keys to attend to: the real ones, or all of them in an all-padding row."""
    key_mask = key_mask.to(torch.bool)
    return key_mask | ~key_mask.any(dim=-1, keepdim=True)  # (B, Lk)


CPU_HEAD_ALIGN = 8
"""On CPU, head dims that are not a multiple of this are zero-padded up to one (see :func:`sdpa_attention`)."""


def sdpa_attention(q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None) -> Tensor:
    """:func:`torch.nn.functional.scaled_dot_product_attention` with a boolean key-padding mask.

    On CPU a head dim that is not a multiple of :data:`CPU_HEAD_ALIGN` is zero-padded up to one
    and the output sliced back, with the scale of the true head dim: the same result (zero
    columns add nothing to ``q k^T``, and the padded value columns are dropped), but PyTorch's
    CPU flash kernel is much faster on aligned heads (an MM-DiT of width 40 with 4 heads,
    ``Dh = 10``, B = 64, L = 129: 34.6 -> 24.2 ms per forward + backward on 2 threads;
    docs/notes/benchmark-history.md, issue #16).
    """
    mask = None if key_mask is None else visible_keys(key_mask)[:, None, None, :]  # (B, 1, 1, Lk)
    dh = q.shape[-1]
    pad = -dh % CPU_HEAD_ALIGN
    if pad and q.device.type == "cpu":
        q, k, v = (F.pad(t, (0, pad)) for t in (q, k, v))  # (B, H, L, Dh + pad), zeros at the end
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=dh**-0.5)
        return out[..., :dh]  # (B, H, Lq, Dh)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def attention(
    q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None, backend: AttentionBackend | None = None
) -> Tensor:
    """Full (bidirectional) scaled dot-product attention with optional key padding.

    The single entry point for attention in the shared blocks: the kernel is the injected
    ``backend`` (an ``attention`` component), :func:`sdpa_attention` when ``None``.

    Args:
        q: ``(B, H, Lq, Dh)``.
        k: ``(B, H, Lk, Dh)``.
        v: ``(B, H, Lk, Dh)``.
        key_mask: ``(B, Lk)`` bool, ``True`` at real keys; padding keys get no weight.
            A row with no real key attends to every key instead (its output is
            meaningless but finite, so padding cannot produce NaN).
        backend: the attention kernel, or ``None`` for SDPA.

    Returns:
        ``(B, H, Lq, Dh)``.
    """
    if backend is None:
        return sdpa_attention(q, k, v, key_mask)
    return backend(q, k, v, key_mask)
