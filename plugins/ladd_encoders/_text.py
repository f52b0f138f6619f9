"""Text of a data row for a pretrained encoder, with the character span of every data token.

A frozen text encoder reads text, not the data's ids: the row is detokenized, re-tokenised by the pretrained
model's tokenizer, and the model's tokens are mapped back to data positions through character spans (the
tokenizer's offset mapping).  Hidden positions are either dropped (``delete``) or replaced by one placeholder
model token each (``mask``), so that nothing about their ids reaches the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["RowText", "align_weights", "compose", "token_spans"]

Detokenize = Callable[[list[int]], str]
STAND_IN = 0
"""The id a hidden position is decoded as before its text is replaced (any fixed id: nothing of it survives)."""


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of two strings."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def token_spans(detokenize: Detokenize, ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """``detokenize(ids)`` and the character span ``[start, end)`` of every id in it.

    Fast path: the text is the concatenation of the single-id texts (char and byte-level BPE tokenizers).
    Otherwise the end of id ``k`` is the length of the common prefix of ``detokenize(ids[:k + 1])`` and the
    full text (kept non-decreasing), which also handles detokenizers that insert separators.
    """
    ids = list(ids)
    text = detokenize(ids)
    pieces = [detokenize([i]) for i in ids]
    if "".join(pieces) == text:
        ends, total = [], 0
        for piece in pieces:
            total += len(piece)
            ends.append(total)
    else:
        ends, prev = [], 0
        for k in range(1, len(ids) + 1):
            prefix = detokenize(ids[:k])
            common = len(prefix) if text.startswith(prefix) else _common_prefix(prefix, text)
            prev = max(prev, common)
            ends.append(prev)
        if ends:
            ends[-1] = len(text)
    starts = [0, *ends[:-1]] if ends else []  # no ids (every position hidden): no spans
    return text, list(zip(starts, ends, strict=True))


@dataclass(frozen=True)
class RowText:
    """One row's text for the pretrained model.

    Attributes:
        text: what the model's tokenizer reads.
        spans: per real data position (in order), its ``[start, end)`` in ``text``, or ``None`` when deleted.
        hidden: per real data position, ``True`` where it is withheld (its span, if any, is a placeholder).
    """

    text: str
    spans: list[tuple[int, int] | None]
    hidden: list[bool]


def compose(ids: Sequence[int], show: Sequence[bool], detokenize: Detokenize, mode: str, placeholder: str) -> RowText:
    """The text of one row's real tokens ``ids``, withholding those where ``show`` is false.

    ``delete``: the text of the shown ids only (hidden positions get no span).  ``mask``: hidden ids are decoded
    as :data:`STAND_IN` and their text is replaced by ``placeholder`` (keeping the stand-in's surrounding
    whitespace, e.g. a word separator), so the text depends on where positions are hidden, never on their ids.
    """
    hidden = [not s for s in show]
    if mode == "delete":
        kept = [i for i, s in zip(ids, show, strict=True) if s]
        text, kept_spans = token_spans(detokenize, kept)
        it = iter(kept_spans)
        return RowText(text, [next(it) if s else None for s in show], hidden)
    raw, raw_spans = token_spans(detokenize, [i if s else STAND_IN for i, s in zip(ids, show, strict=True)])
    parts: list[str] = []
    spans: list[tuple[int, int] | None] = []
    cursor, length = 0, 0  # cursor in raw, length of the text built so far
    for (a, b), h in zip(raw_spans, hidden, strict=True):
        parts.append(raw[cursor:a])
        length += a - cursor
        piece = raw[a:b]
        if h:
            core = piece.strip()
            lead = piece[: len(piece) - len(piece.lstrip())] if core else ""
            trail = piece[len(piece.rstrip()) :] if core else ""
            parts.append(lead + placeholder + trail)
            spans.append((length + len(lead), length + len(lead) + len(placeholder)))
            length += len(lead) + len(placeholder) + len(trail)
        else:
            parts.append(piece)
            spans.append((length, length + len(piece)))
            length += len(piece)
        cursor = b
    parts.append(raw[cursor:])
    return RowText("".join(parts), spans, hidden)


def _char_owner(length: int, offsets: Sequence[tuple[int, int]], valid: Sequence[bool]) -> list[int]:
    """Model token of every character: the one covering it; an uncovered character (whitespace the
    tokenizer drops) takes the next covered one's token, or the previous one's at the end; -1 past the text the
    model read (truncation)."""
    owner = [-1] * length
    last_end = 0
    for t, ((s, e), ok) in enumerate(zip(offsets, valid, strict=True)):
        if ok and e > s:
            for c in range(s, min(e, length)):
                owner[c] = t
            last_end = max(last_end, e)
    nxt = -1
    for c in range(min(last_end, length) - 1, -1, -1):
        nxt = owner[c] if owner[c] >= 0 else nxt
        owner[c] = nxt
    prev = -1
    for c in range(min(last_end, length)):
        prev = owner[c] if owner[c] >= 0 else prev
        owner[c] = owner[c] if owner[c] >= 0 else prev
    return owner


def align_weights(
    rows: Sequence[RowText], positions: Sequence[Sequence[int]], offsets: Tensor, valid: Tensor, seq_len: int
) -> tuple[Tensor, Tensor]:
    """Averaging weights from model tokens to data positions, and the model tokens to blank.

    Args:
        rows: the composed text of each row.
        positions: per row, the data position (column in ``0..L-1``) of each real token in ``rows[b].spans``.
        offsets: ``(B, T, 2)`` character offsets of the model tokens.
        valid: ``(B, T)`` bool, real non-padding model tokens.
        seq_len: ``L``.

    Returns:
        ``weights (B, L, T)``: row ``l`` averages the model tokens covering data position ``l``'s characters
        (zero for hidden, deleted, padding and truncated positions); ``blank (B, T)`` bool: model tokens that
        overlap a hidden position's placeholder.
    """
    b_size, t_size = valid.shape
    weights = torch.zeros(b_size, seq_len, t_size)  # (B, L, T)
    blank = torch.zeros(b_size, t_size, dtype=torch.bool)  # (B, T)
    off, ok = offsets.tolist(), valid.tolist()
    for b, (row, cols) in enumerate(zip(rows, positions, strict=True)):
        owner = _char_owner(len(row.text), [tuple(o) for o in off[b]], ok[b])
        for span, h, col in zip(row.spans, row.hidden, cols, strict=True):
            if span is None:
                continue
            a, e = span
            chars = range(a, e) if e > a else range(min(a, len(owner) - 1), min(a, len(owner) - 1) + 1)
            toks = {owner[c] for c in chars if 0 <= c < len(owner) and owner[c] >= 0}
            if h:
                for t in toks:
                    blank[b, t] = True
            elif toks:
                weights[b, col, list(toks)] = 1.0 / len(toks)
    return weights, blank
