"""``ladd capabilities``: the capability vocabulary, and which installed components offer or need each one."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from typing import Any

from ladd_core.capability import Capability
from ladd_core.plugins import Components, get_components

__all__ = ["add_parsers", "capability_table", "cmd_capabilities"]

# (registry kind, class attribute or method, "offers" | "requires")
_DECLARATIONS = (
    ("latent", "capabilities_for", "offers"),
    ("latent", "backbone_requires", "requires"),
    ("latent", "latent_denoiser_requires", "requires"),
    ("backbone", "capabilities", "offers"),
    ("data", "capabilities", "offers"),
    ("schedule", "capabilities", "offers"),
    ("sampler", "requires", "requires"),
    ("metric", "requires", "requires"),
)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "capabilities",
        help="the capability vocabulary and which installed components offer or need each capability",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_capabilities)


def _declared(cls: Any, attr: str) -> frozenset[str]:
    if attr == "capabilities_for":  # a latent channel: what its default config offers, with or without a denoiser
        cfg = cls.Config()
        return frozenset(cls.capabilities_for(cfg, has_latent_denoiser=True)) | frozenset(
            cls.capabilities_for(cfg, has_latent_denoiser=False)
        )
    return frozenset(getattr(cls, attr, frozenset()))


def capability_table(components: Components) -> list[dict[str, Any]]:
    """One entry per capability (the enum's, then any plug-in's own): scope, meaning, offered by, required by."""
    offered: dict[str, list[str]] = defaultdict(list)
    required: dict[str, list[str]] = defaultdict(list)
    for kind, attr, role in _DECLARATIONS:
        if kind not in components.registries:
            continue
        for name, cls in components.registry(kind).items():
            try:
                caps = _declared(cls, attr)
            except Exception:  # a channel whose default config cannot be built: nothing to report
                continue
            for cap in caps:
                (offered if role == "offers" else required)[str(cap)].append(f"{kind} {name}")
    known = [c.value for c in Capability]
    extra = sorted((set(offered) | set(required)) - set(known))
    rows = []
    for cap in [*known, *extra]:
        member = Capability(cap) if cap in known else None
        rows.append(
            {
                "capability": cap,
                "scope": member.scope if member else "plug-in's own",
                "meaning": member.meaning if member else "(not in ladd_core.capability.Capability)",
                "offered_by": sorted(set(offered.get(cap, []))),
                "required_by": sorted(set(required.get(cap, []))),
            }
        )
    return rows


def cmd_capabilities(args: argparse.Namespace) -> int:
    rows = capability_table(get_components())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['capability']}  [{r['scope']}]  {r['meaning']}")
        nobody = "(the evaluation)" if r["scope"] == "resource" else "(the assembled model)"
        print(f"    offered by:  {', '.join(r['offered_by']) or nobody}")
        print(f"    required by: {', '.join(r['required_by']) or '-'}")
    return 0
