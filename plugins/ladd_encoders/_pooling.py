"""Pooling of a pretrained model's hidden states ``(B, T, D)`` into latent slots (shared by ``hf`` / ``minilm``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["adaptive_chunk_mean", "last_valid"]


def adaptive_chunk_mean(hidden: Tensor, valid: Tensor, k: int, eos_slot: bool = False) -> Tensor:
    """Pool the valid positions of each row into ``k`` chunk means.

    Valid token of rank ``r`` (among ``n``) goes to bin ``floor(r * k / n)``.  With
    ``eos_slot`` the last valid token is slot ``k - 1`` on its own and the other
    ``n - 1`` tokens are spread over ``k - 1`` bins.  Rows with ``n < k`` get all zeros.

    Args:
        hidden: ``(B, T, D)``.
        valid: ``(B, T)`` bool.
        k: number of slots.
        eos_slot: keep the last valid token as its own slot.

    Returns:
        ``(B, k, D)`` in ``hidden.dtype``.
    """
    valid = valid.to(torch.bool)
    n = valid.sum(dim=1, keepdim=True)  # (B, 1)
    rank = valid.long().cumsum(dim=1) - 1  # (B, T), rank among the valid positions
    if eos_slot:
        is_last = valid & (rank == n - 1)  # (B, T)
        bins = torch.where(is_last, k - 1, rank * (k - 1) // (n - 1).clamp(min=1))  # (B, T)
        include = valid & (is_last | (k > 1))  # (B, T); with k = 1 only the last token is used
    else:
        bins = rank * k // n.clamp(min=1)  # (B, T)
        include = valid
    bins = bins.clamp(0, k - 1)  # (B, T); masked-out positions may hold junk bins
    weights = F.one_hot(bins, k).to(hidden.dtype) * include.unsqueeze(-1).to(hidden.dtype)  # (B, T, k)
    sums = weights.transpose(1, 2) @ hidden  # (B, k, D)
    counts = weights.sum(dim=1).unsqueeze(-1)  # (B, k, 1)
    means = sums / counts.clamp(min=1)  # (B, k, D)
    return means * (n >= k).unsqueeze(-1).to(hidden.dtype)  # (B, k, D), short rows zeroed


def last_valid(hidden: Tensor, valid: Tensor) -> Tensor:
    """The hidden state of the last valid position of each row (left or right padding), ``(B, 1, D)``.

    Rows without a valid position get zeros.
    """
    valid = valid.to(torch.bool)
    pos = torch.arange(valid.shape[1], device=valid.device).expand_as(valid)  # (B, T)
    last = torch.where(valid, pos, -1).max(dim=1).values  # (B,)
    picked = hidden[torch.arange(hidden.shape[0], device=hidden.device), last.clamp(min=0)]  # (B, D)
    return (picked * (last >= 0).unsqueeze(-1).to(hidden.dtype)).unsqueeze(1)  # (B, 1, D)
