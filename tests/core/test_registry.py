from __future__ import annotations

from typing import Literal

import pytest

from ladd_core.config.base import ComponentConfig
from ladd_core.registry import (
    DuplicateComponentError,
    Registry,
    UnknownComponentError,
    register_classes,
    register_each,
)


class A:
    """First line of A.

    More.
    """


class B:
    pass


def test_register_get_list_describe():
    reg: Registry[type] = Registry("latent")
    reg.register("gaussian", A, owner="p1")
    reg.register("vq", B, owner="p2", aliases=("codes",))
    assert reg.get("gaussian") is A
    assert reg.get("codes") is B
    assert reg.list() == ["gaussian", "vq"]
    assert reg.list("g*") == ["gaussian"]
    info = reg.describe("gaussian")
    assert info["owner"] == "p1" and info["doc"].startswith("First line of A")
    assert "test_registry" in info["location"]
    assert "vq" in reg and "codes" in reg and "nope" not in reg and len(reg) == 2


def test_duplicate_names_both_owners():
    reg: Registry[type] = Registry("latent")
    reg.register("gaussian", A, owner="first-plugin")
    with pytest.raises(DuplicateComponentError) as exc:
        reg.register("gaussian", B, owner="second-plugin")
    msg = str(exc.value)
    assert "first-plugin" in msg and "second-plugin" in msg and "LADD_DISABLE_PLUGINS" in msg
    reg.register("x", B, owner="p", aliases=("y",))
    with pytest.raises(DuplicateComponentError):
        reg.register("y", A, owner="q")  # an alias is taken too


def test_unknown_name_lists_known_and_suggests():
    reg: Registry[type] = Registry("latent")
    for n in ("categorical", "gaussian", "vq"):
        reg.register(n, A if n != "vq" else B, owner="p")
    with pytest.raises(UnknownComponentError) as exc:
        reg.get("gausian")
    msg = str(exc.value)
    assert "Did you mean 'gaussian'?" in msg
    assert "categorical, gaussian, vq" in msg
    assert "ladd plugins" in msg
    assert isinstance(exc.value, KeyError)
    with pytest.raises(UnknownComponentError) as exc2:
        reg.get("zzzzzz")
    assert "Did you mean" not in str(exc2.value)


def test_validator_rejects():
    def validator(name, obj):
        if obj is B:
            raise TypeError("B is not allowed")

    reg: Registry[type] = Registry("latent", validator=validator)
    with pytest.raises(TypeError, match="not allowed"):
        reg.register("b", B)
    assert "b" not in reg


def test_register_classes_uses_the_config_names_in_order():
    class Lin:
        class Config(ComponentConfig):
            name: Literal["lin"] = "lin"

    class Cos:
        class Config(ComponentConfig):
            name: Literal["cos"] = "cos"

    calls: list[tuple[str, object]] = []
    register_classes(lambda name, obj: calls.append((name, obj)), Cos, Lin)
    assert calls == [("cos", Cos), ("lin", Lin)]


def test_register_each_keeps_order():
    calls: list[tuple[str, object]] = []
    register_each(lambda name, obj: calls.append((name, obj)), {"z": 1, "y": 2})
    assert calls == [("z", 1), ("y", 2)]
