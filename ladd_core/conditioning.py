"""Conditional generation: which token positions are given (a prompt, an infilling template) and their ids.

A :class:`Condition` is what every sampler accepts as ``condition=``: ``tokens (B, L)`` and
``visible (B, L)``.  Visible positions start revealed and are never changed by any step (samplers
re-impose them with :meth:`Condition.apply` after each step and in the final fill); the other
positions start masked and are generated.  A single-row condition is broadcast to a whole batch.

Builders read text with the run's tokenizer:

* :func:`from_prompt` -- the prompt's ids at the start, the rest of the ``length`` positions masked;
* :func:`from_infill` -- a template in which ``<mask>`` is one masked token and ``<mask:N>`` is ``N``
  masked tokens; everything else is kept verbatim (each text segment is tokenised on its own).
  A template shorter than ``length`` leaves the tail masked as well.

Problems (too long, nothing to generate, characters the tokenizer cannot encode) raise
:class:`ConditionError`, a ``ValueError`` with a one-line message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from ladd_core.components.tokenizers import Tokenizer

__all__ = ["MASK_PATTERN", "Condition", "ConditionError", "from_ids", "from_infill", "from_prompt", "parse_template"]

MASK_PATTERN = re.compile(r"<mask(?::(\d+))?>")
"""``<mask>`` (one masked token) or ``<mask:N>`` (``N`` masked tokens) inside an infilling template."""

MALFORMED = re.compile(r"<\s*mask", re.IGNORECASE)
"""What is left of a marker that :data:`MASK_PATTERN` did not take: ``<MASK>``, ``<mask: 2>``, ``<mask:3``."""


class ConditionError(ValueError):
    """A prompt or template that cannot condition this model (message on one line)."""


@dataclass(frozen=True)
class Condition:
    """Given token positions and their ids.

    Attributes:
        tokens: ``(B, L)`` long; the ids at ``visible`` positions (other entries are ignored).
        visible: ``(B, L)`` bool; ``True`` where the token is given and must never change.
    """

    tokens: Tensor
    visible: Tensor

    def __post_init__(self) -> None:
        if self.tokens.dim() != 2 or self.tokens.shape != self.visible.shape:
            raise ConditionError(
                f"condition tokens and visible must both be (B, L), got {tuple(self.tokens.shape)} "
                f"and {tuple(self.visible.shape)}"
            )
        if self.tokens.dtype != torch.long or self.visible.dtype != torch.bool:
            raise ConditionError("condition tokens must be long and visible bool")

    @property
    def length(self) -> int:
        """``L``."""
        return int(self.tokens.shape[1])

    def expand(self, batch_size: int, device: torch.device | str | None = None) -> Condition:
        """This condition for a batch of ``batch_size`` rows (a single row is repeated), on ``device``."""
        b = self.tokens.shape[0]
        if b not in (1, batch_size):
            raise ConditionError(f"a condition of {b} rows cannot condition a batch of {batch_size}")
        tokens = self.tokens.expand(batch_size, -1)  # (B, L)
        visible = self.visible.expand(batch_size, -1)  # (B, L)
        if device is not None:
            tokens, visible = tokens.to(device), visible.to(device)
        return Condition(tokens.contiguous(), visible.contiguous())

    def rows(self, start: int, stop: int) -> Condition:
        """Rows ``start:stop`` (a single-row condition is returned as it is: it applies to every row)."""
        if self.tokens.shape[0] == 1:
            return self
        return Condition(self.tokens[start:stop], self.visible[start:stop])

    def apply(self, x: Tensor) -> Tensor:
        """``x (B, L)`` with every visible position set to its given id."""
        return torch.where(self.visible, self.tokens, x)

    def preserved(self, x: Tensor) -> bool:
        """Whether ``x (B, L)`` holds the given id at every visible position."""
        return bool((x[self.visible] == self.tokens[self.visible]).all())


def _tokenizer(tokenizer_or_data: Any) -> Tokenizer:
    """A tokenizer, or the ``.tokenizer`` of a data source."""
    return getattr(tokenizer_or_data, "tokenizer", tokenizer_or_data)


def _encode(tok: Tokenizer, text: str, what: str) -> list[int]:
    """Ids of ``text``; characters the tokenizer cannot encode (an error, or an ``<unk>`` id) raise."""
    try:
        ids = tok.encode(text)
    except (ValueError, KeyError) as exc:
        raise ConditionError(f"the run's tokenizer cannot encode the {what}: {' '.join(str(exc).split())}") from None
    bad = sorted({i for i in ids if i in tok.non_data_ids})
    if bad:
        raise ConditionError(
            f"the {what} holds characters the run's tokenizer cannot encode (they map to non-data ids {bad})"
        )
    return ids


def from_ids(ids: list[int | None], length: int, what: str = "template") -> Condition:
    """A one-row condition of ``length`` from ``ids`` (``None`` = masked); positions past ``ids`` are masked.

    Raises:
        ConditionError: more than ``length`` ids, or nothing to generate.
    """
    if len(ids) > length:
        raise ConditionError(f"the {what} is {len(ids)} tokens long; the model generates {length}")
    visible = torch.zeros(1, length, dtype=torch.bool)
    tokens = torch.zeros(1, length, dtype=torch.long)
    for i, v in enumerate(ids):
        if v is not None:
            visible[0, i], tokens[0, i] = True, int(v)
    if bool(visible.all()):
        raise ConditionError(f"the {what} fills all {length} positions: nothing to generate")
    return Condition(tokens, visible)


def from_prompt(tokenizer_or_data: Any, text: str, length: int) -> Condition:
    """The ids of ``text`` at the start of ``length`` positions, the rest masked (one row)."""
    if not isinstance(text, str):
        raise ConditionError(f"the prompt must be a string, got {type(text).__name__}")
    return from_ids(list(_encode(_tokenizer(tokenizer_or_data), text, "prompt")), length, "prompt")


def _check_segment(text: str) -> str:
    """A template's text between markers; a malformed marker (``<MASK>``, ``<mask: 2>``, ``<mask:-1>``,
    an unterminated ``<mask:3``) is an error rather than literal text."""
    bad = MALFORMED.search(text)
    if bad is not None:
        near = text[bad.start() : bad.start() + 12]
        raise ConditionError(f"malformed mask marker {near!r} in the template; write <mask> or <mask:N> (N >= 1)")
    return text


def parse_template(template: str, limit: int | None = None) -> list[str | int]:
    """Split a template into text segments (``str``) and masked runs (``int`` = number of masked tokens).

    ``limit``: the most masked tokens the template may hold (the model's length), checked before
    anything is built from the counts.

    Raises:
        ConditionError: a ``<mask:0>``, a malformed marker, more holes than ``limit``, or no ``<mask>`` at all.
    """
    if not isinstance(template, str):
        raise ConditionError(f"the template must be a string, got {type(template).__name__}")
    parts: list[str | int] = []
    pos, total = 0, 0
    for m in MASK_PATTERN.finditer(template):
        if m.start() > pos:
            parts.append(_check_segment(template[pos : m.start()]))
        digits = m.group(1)
        if digits is not None and len(digits) > 18:
            raise ConditionError(f"<mask:{digits[:8]}...> asks for more tokens than any model generates")
        n = 1 if digits is None else int(digits)
        if n < 1:
            raise ConditionError(f"{m.group(0)} masks no token; use <mask> or <mask:N> with N >= 1")
        total += n
        if limit is not None and total > limit:
            raise ConditionError(f"the template masks at least {total:,} tokens; the model generates {limit}")
        parts.append(n)
        pos = m.end()
    if pos < len(template):
        parts.append(_check_segment(template[pos:]))
    if not any(isinstance(p, int) for p in parts):
        raise ConditionError("the template has nothing to fill: mark positions with <mask> or <mask:N>")
    return parts


def from_infill(tokenizer_or_data: Any, template: str, length: int) -> Condition:
    """The condition of an infilling template over ``length`` positions (one row); see the module docstring."""
    tok = _tokenizer(tokenizer_or_data)
    parts = [p if isinstance(p, int) else _encode(tok, p, "template") for p in parse_template(template)]
    total = sum(p if isinstance(p, int) else len(p) for p in parts)  # counted before any list is built
    if total > length:
        raise ConditionError(f"the template is {total} tokens long; the model generates {length}")
    ids: list[int | None] = []
    for part in parts:
        ids.extend([None] * part if isinstance(part, int) else part)
    return from_ids(ids, length, "template")
