"""``ladd_core.conditioning``: prompts and infilling templates become exact conditions, or one-line errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ladd_core.conditioning import Condition, ConditionError, from_infill, from_prompt, parse_template
from ladd_tokenizers.binary import BinaryTokenizer
from ladd_tokenizers.char import CharTokenizer

BIN = BinaryTokenizer()


def _char() -> CharTokenizer:
    tok = CharTokenizer()
    tok.fit(["abc xyz<>:0123456789"])
    return tok


segments = st.lists(
    st.one_of(st.text(alphabet="01", min_size=1, max_size=5), st.integers(1, 4)), min_size=1, max_size=6
).filter(lambda parts: any(isinstance(p, int) for p in parts))


def _render(parts: list[str | int], short: bool) -> str:
    return "".join(p if isinstance(p, str) else ("<mask>" if p == 1 and short else f"<mask:{p}>") for p in parts)


@settings(max_examples=60, deadline=None)
@given(parts=segments, short=st.booleans(), extra=st.integers(0, 4))
def test_infill_template_is_kept_verbatim_and_masks_are_counted(parts, short, extra):
    template = _render(parts, short)
    n = sum(len(p) if isinstance(p, str) else p for p in parts)
    cond = from_infill(BIN, template, n + extra)
    want_vis = [v for p in parts for v in ([True] * len(p) if isinstance(p, str) else [False] * p)]
    assert cond.visible[0].tolist() == want_vis + [False] * extra  # a shorter template leaves the tail masked
    kept = "".join(p for p in parts if isinstance(p, str))
    assert "".join(str(int(i)) for i in cond.tokens[0][cond.visible[0]].tolist()) == kept


@settings(max_examples=40, deadline=None)
@given(text=st.text(alphabet="01", max_size=12), length=st.integers(1, 16))
def test_prompt_is_the_start_and_the_rest_is_masked(text, length):
    if len(text) >= length:
        with pytest.raises(ConditionError, match=r"tokens long|nothing to generate"):
            from_prompt(BIN, text, length)
        return
    cond = from_prompt(BIN, text, length)
    assert cond.visible[0].tolist() == [True] * len(text) + [False] * (length - len(text))
    assert cond.tokens[0, : len(text)].tolist() == [int(c) for c in text]


@pytest.mark.parametrize(
    ("template", "length", "message"),
    [
        ("0101", 8, "nothing to fill"),
        ("01<mask:0>1", 8, "masks no token"),
        ("0<mask:9>", 8, "10 tokens long; the model generates 8"),
        ("0a<mask>", 8, "cannot encode the template"),
    ],
)
def test_template_errors_are_one_line(template, length, message):
    with pytest.raises(ConditionError, match=message) as e:
        from_infill(BIN, template, length)
    assert "\n" not in str(e.value)


def test_unknown_characters_of_a_fitted_tokenizer_are_rejected():
    tok = _char()
    assert from_prompt(tok, "abc", 8).visible.sum() == 3
    with pytest.raises(ConditionError, match="cannot encode"):
        from_prompt(tok, "abQ", 8)  # Q maps to <unk>
    parts = parse_template("a<mask>b<mask:3>")
    assert parts == ["a", 1, "b", 3]
    cond = from_infill(tok, "ab<mask:2>c", 8)
    assert cond.visible[0].tolist() == [True, True, False, False, True, False, False, False]


def test_condition_broadcast_and_apply():
    c = Condition(torch.tensor([[1, 0, 1]]), torch.tensor([[True, False, True]]))
    e = c.expand(4)
    assert e.tokens.shape == (4, 3) and e.preserved(e.apply(torch.full((4, 3), 2)))
    assert not e.preserved(torch.zeros(4, 3, dtype=torch.long))
    assert c.rows(1, 3) is c
    with pytest.raises(ConditionError, match="both be"):
        Condition(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.bool))
