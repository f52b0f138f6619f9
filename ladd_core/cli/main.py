"""``ladd`` command-line entry point: parses arguments, dispatches, turns known errors into messages."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ladd_core.cli import bench_cmds, components_cmds, config_cmds, eval_cmds, run_cmds, seeds_cmds
from ladd_core.config.errors import ConfigError
from ladd_core.numerics import NonFiniteError
from ladd_core.registry import ComponentError
from ladd_core.training.checkpoint import CheckpointError

__all__ = ["build_parser", "main"]

USER_ERRORS = (ConfigError, ComponentError, CheckpointError, NonFiniteError, FileNotFoundError, ImportError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ladd",
        description="Train, sample and evaluate (latent-augmented) masked discrete diffusion models.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    components_cmds.add_parsers(sub)
    config_cmds.add_parsers(sub)
    run_cmds.add_parsers(sub)
    eval_cmds.add_parsers(sub)
    bench_cmds.add_parsers(sub)
    seeds_cmds.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 user error, 3 training diverged)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        if os.environ.get("LADD_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # TrainingDiverged
        if os.environ.get("LADD_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
