"""``ladd config show PRESET``, ``ladd config validate FILE``, ``ladd config schema``."""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

from ladd_core.config.experiment import ExperimentConfig, validate_config
from ladd_core.config.loading import apply_overrides, load_config_source
from ladd_core.plugins import get_components


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("config", help="show, validate or describe configs")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    s = csub.add_parser("show", help="print a preset (or file) fully resolved, with defaults")
    s.add_argument("source", help="preset name or YAML/JSON file")
    s.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)
    v = csub.add_parser("validate", help="check a config file; prints every problem with its field path")
    v.add_argument("source")
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    v.set_defaults(func=cmd_validate)
    sc = csub.add_parser("schema", help="JSON schema of the experiment config (for editors)")
    sc.set_defaults(func=cmd_schema)
    ps = csub.add_parser("presets", help="list the shipped presets")
    ps.set_defaults(func=cmd_presets)


def resolve(source: str, overrides: list[str]) -> ExperimentConfig:
    """Load ``source`` (preset or file), apply ``--set`` overrides, validate."""
    comps = get_components()
    data = apply_overrides(load_config_source(source, comps), overrides)
    return validate_config(data, comps, source=source)


def cmd_show(args: argparse.Namespace) -> int:
    cfg = resolve(args.source, args.overrides)
    data = cfg.model_dump(mode="json")
    print(json.dumps(data, indent=2) if args.json else yaml.safe_dump(data, sort_keys=False))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    cfg = resolve(args.source, args.overrides)
    print(f"ok: {args.source} is a valid config (latent {cfg.model.latent.name!r}, sampler {cfg.sampler.name!r})")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(get_components().config_model.model_json_schema(), indent=2))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    reg = get_components().registry("preset")
    for name in reg.list():
        print(f"{name:<24} {reg.get(name).get('description', '')}")
    return 0
