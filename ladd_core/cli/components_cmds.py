"""``ladd plugins``, ``ladd list KIND``, ``ladd show KIND NAME``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ladd_core.kinds import KINDS
from ladd_core.plugins import get_components


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("plugins", help="installed plug-ins, versions and what each registered")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--hook", help="only plug-ins implementing this hook")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("list", help="registered components of a kind")
    p.add_argument("kind", choices=sorted(KINDS), help="component kind")
    p.add_argument("pattern", nargs="?", help="fnmatch filter, e.g. 'co*'")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="docstring, owner and config schema of a component")
    p.add_argument("kind", choices=sorted(KINDS))
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)


def plugins_report(hook: str | None = None) -> dict[str, Any]:
    comps = get_components()
    plugins = [
        {
            "name": p.name,
            "version": p.version,
            "distribution": p.distribution,
            "hooks": p.hooks,
            "components": p.components,
        }
        for p in comps.plugins
        if hook is None or hook in p.hooks
    ]
    failures = [{"plugin": f.plugin, "stage": f.stage, "error": f.error} for f in comps.failures]
    return {"plugins": plugins, "failures": failures, "blocked": comps.blocked}


def cmd_plugins(args: argparse.Namespace) -> int:
    report = plugins_report(args.hook)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for p in report["plugins"]:
        comps = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(p["components"].items()))
        print(f"{p['name']} {p['version'] or ''} ({p['distribution'] or 'direct'})  {comps}")
    for f in report["failures"]:
        print(f"FAILED {f['plugin']} [{f['stage']}]: {f['error']}")
    for b in report["blocked"]:
        print(f"blocked {b}")
    return 0


def _summary(obj: Any, doc: str) -> str:
    """One line about a registered object: a preset's description, a default's component name, else its docstring."""
    if isinstance(obj, dict):
        return str(obj.get("description", ""))
    if isinstance(obj, str):
        return obj
    lines = doc.splitlines()
    return lines[0] if lines else ""


def cmd_list(args: argparse.Namespace) -> int:
    reg = get_components().registry(args.kind)
    for name in reg.list(args.pattern):
        print(f"{name:<20} {_summary(reg.get(name), reg.describe(name)['doc'])}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    info = get_components().registry(args.kind).describe(args.name)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{info['kind']} {info['name']}  (plug-in {info['owner']}, {info['location']})\n")
    print(info["doc"] + "\n")
    schema = info.get("config_schema")
    if schema:
        print("config fields:")
        for fname, prop in schema.get("properties", {}).items():
            default = prop.get("default", "(required)" if fname in schema.get("required", []) else "")
            typ = prop.get("type") or prop.get("anyOf") or prop.get("$ref") or prop.get("const") or ""
            print(f"  {fname:<16} {str(typ)[:40]:<40} default={default!r}  {prop.get('description', '')}")
    return 0
