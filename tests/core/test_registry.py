from __future__ import annotations

import pytest

from ladd_core.registry import (
    DuplicateComponentError,
    Registry,
    UnknownComponentError,
    register_each,
    register_targets,
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


def test_register_targets_imports_each_target_in_table_order():
    calls: list[tuple[str, object]] = []
    register_targets(lambda name, obj: calls.append((name, obj)), {"b": "collections:OrderedDict", "a": "json:dumps"})
    import collections
    import json

    assert calls == [("b", collections.OrderedDict), ("a", json.dumps)]
    with pytest.raises(ValueError, match="not of the form"):
        register_targets(lambda name, obj: None, {"x": "collections.OrderedDict"})


def test_register_each_keeps_order():
    calls: list[tuple[str, object]] = []
    register_each(lambda name, obj: calls.append((name, obj)), {"z": 1, "y": 2})
    assert calls == [("z", 1), ("y", 2)]
