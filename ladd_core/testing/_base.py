"""The base of every contract class: which component, from which plug-ins, with which config."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from ladd_core.config.base import ComponentConfig
from ladd_core.kinds import KINDS
from ladd_core.plugins import Components
from ladd_core.testing.toys import components_for, config_model, tiny_config, validate_component

__all__ = ["ComponentContract", "build_or_skip", "names_fixture", "run_examples"]

OPTIONAL_DEPENDENCY_ERRORS = (ImportError, FileNotFoundError)
"""Raised on construction by components whose optional package or files are absent (skipped, not failed)."""


def build_or_skip(factory: Callable[[], Any], what: str) -> Any:
    """``factory()``, or ``pytest.skip`` when it needs an optional dependency that is not installed."""
    try:
        return factory()
    except OPTIONAL_DEPENDENCY_ERRORS as exc:
        pytest.skip(f"{what}: optional dependency unavailable ({type(exc).__name__}: {exc})")


def run_examples(strategy: Any, check: Callable[[Any], None], *, max_examples: int | None = None) -> None:
    """Run ``check`` on examples of a hypothesis ``strategy`` (hypothesis is imported here, lazily).

    The loaded profile decides how many examples; ``max_examples`` caps it for expensive checks.
    """
    from hypothesis import given, settings

    current = settings.default.max_examples
    cap = current if max_examples is None else min(current, max_examples)

    @settings(max_examples=cap)
    @given(strategy)
    def inner(value: Any) -> None:
        check(value)

    inner()


def names_fixture(names: Iterable[str]) -> Any:
    """A ``component_name`` fixture parametrized over ``names``, to run a contract over a whole registry.

    In a subclass: ``component_name = names_fixture(get_components().registry("schedule").list())``.
    """
    params = list(names)

    @pytest.fixture(params=params, ids=params)
    def component_name(self: Any, request: pytest.FixtureRequest) -> str:
        return request.param

    return component_name


class ComponentContract:
    """Checks every component of a kind must pass.  Subclass a concrete contract and set :attr:`name`.

    Attributes:
        kind: the registry kind (set by each contract).
        name: the registered name under test.
        config: fields of the component's config (merged over its defaults and :data:`~ladd_core.testing.toys.TINY`).
        configs_by_name: per-name ``config`` (for contracts run over several names).
        drawn_fixed: per-name fields held fixed in the tests that draw configs (to step around a known issue).
        plugins: ``(name, module)`` plug-ins registered directly, e.g. before the package is installed.
        use_entry_points: also load the installed plug-ins (entry-point group ``ladd``); the
            built-ins are needed by most contracts.
        vocab_size, seq_len, batch_size: sizes of the toy data.
    """

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    config: ClassVar[dict[str, Any]] = {}
    configs_by_name: ClassVar[dict[str, dict[str, Any]]] = {}
    drawn_fixed: ClassVar[dict[str, dict[str, Any]]] = {}
    plugins: ClassVar[tuple[tuple[str, object], ...]] = ()
    use_entry_points: ClassVar[bool] = True
    vocab_size: ClassVar[int] = 3
    seq_len: ClassVar[int] = 6
    batch_size: ClassVar[int] = 4

    # -- fixtures ---------------------------------------------------------------------
    @pytest.fixture
    def component_name(self) -> str:
        if not self.name:
            pytest.fail(f"{type(self).__name__} must set `name` (the registered name under test)")
        return self.name

    @pytest.fixture
    def contract_components(self) -> Components:
        return components_for(self.plugins, self.use_entry_points)

    @pytest.fixture
    def component_cls(self, contract_components: Components, component_name: str) -> type:
        return contract_components.get(self.kind, component_name)

    @pytest.fixture
    def config_data(self, contract_components: Components, component_name: str) -> dict[str, Any]:
        overrides = {**self.config, **self.configs_by_name.get(component_name, {})}
        return tiny_config(contract_components, self.kind, component_name, overrides)

    @pytest.fixture
    def component_config(self, contract_components: Components, config_data: dict[str, Any]) -> ComponentConfig:
        return validate_component(contract_components, self.kind, config_data)

    # -- checks shared by every kind --------------------------------------------------------
    def test_registered_under_its_name(self, contract_components: Components, component_name: str) -> None:
        cls = contract_components.get(self.kind, component_name)
        base = KINDS[self.kind].base
        assert base is not None and issubclass(cls, base)
        assert cls.Config.model_fields["name"].default == component_name
        assert (cls.__doc__ or "").strip(), f"{cls.__name__} needs a docstring (`ladd list` shows its first line)"

    def test_default_config_validates(self, contract_components: Components, component_name: str) -> None:
        cfg = validate_component(contract_components, self.kind, {"name": component_name})
        again = validate_component(contract_components, self.kind, cfg.model_dump(mode="json"))
        assert again == cfg, "a config must survive a JSON round trip (run directories store them)"

    def test_out_of_range_fields_are_rejected(self, contract_components: Components, component_name: str) -> None:
        from ladd_core.testing.strategies import invalid_field_values

        model = config_model(contract_components, self.kind, component_name)
        for fname, bad in invalid_field_values(contract_components.get(self.kind, component_name).Config):
            with pytest.raises(ValidationError):
                model.model_validate({"name": component_name, fname: bad})

    def test_drawn_configs_validate(
        self, contract_components: Components, component_name: str, config_data: dict[str, Any]
    ) -> None:
        from ladd_core.testing.strategies import configs

        cls = contract_components.get(self.kind, component_name)
        model = config_model(contract_components, self.kind, component_name)
        refs = {k: v for k, v in config_data.items() if isinstance(v, dict)}
        refs.update(self.drawn_fixed.get(component_name, {}))

        def check(cfg: Any) -> None:
            assert isinstance(cfg, cls.Config)
            assert model.model_validate(cfg.model_dump(mode="json")) == cfg

        run_examples(configs(cls.Config, fixed=refs, model=model), check)
