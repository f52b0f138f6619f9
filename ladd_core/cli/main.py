"""``ladd`` command-line entry point: parses arguments, dispatches, turns known errors into one-line messages.

Exit status: 0 ok; 2 a user error (bad option, config, file or run directory) printed as one
``error:`` line without a traceback (``LADD_DEBUG=1`` re-raises it); 3 training diverged;
``128 + N`` when signal N (SIGINT 130, SIGTERM 143) stopped training after saving a checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ladd_core.cli import (
    bench_cmds,
    capabilities_cmds,
    components_cmds,
    config_cmds,
    eval_cmds,
    export_cmds,
    run_cmds,
    seeds_cmds,
)
from ladd_core.config.errors import ConfigError
from ladd_core.numerics import NonFiniteError
from ladd_core.progress import QUIET_ENV
from ladd_core.registry import ComponentError
from ladd_core.training.checkpoint import CheckpointError
from ladd_core.training.lock import RunLockedError

__all__ = ["build_parser", "main", "one_line"]

# ValueError covers ConfigError, JSONDecodeError and UnicodeDecodeError; OSError covers FileNotFoundError,
# PermissionError, IsADirectoryError and friends; RecursionError: pathological nesting in a config file.
USER_ERRORS = (
    ValueError,
    OSError,
    ComponentError,
    CheckpointError,
    RunLockedError,
    NonFiniteError,
    ImportError,
    RecursionError,
)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one ``error:`` line (exit status 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {' '.join(message.split())} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ladd",
        description="Train, sample and evaluate (latent-augmented) masked discrete diffusion models.",
    )
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bars or step lines (warnings and results still print)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    components_cmds.add_parsers(sub)
    capabilities_cmds.add_parsers(sub)
    config_cmds.add_parsers(sub)
    run_cmds.add_parsers(sub)
    eval_cmds.add_parsers(sub)
    bench_cmds.add_parsers(sub)
    seeds_cmds.add_parsers(sub)
    export_cmds.add_parsers(sub)
    return parser


def _is_datasets_error(exc: BaseException) -> bool:
    """Errors of HF ``datasets`` (reading an empty, binary or non-UTF-8 text file) without importing it."""
    return type(exc).__module__.split(".")[0] == "datasets"


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a config error lists its problems separated by ``;``)."""
    if isinstance(exc, ConfigError):
        head = f"invalid config{f' ({exc.source})' if exc.source else ''}"
        text = f"{head}: " + "; ".join(f"{p}: {m}" for p, m in exc.problems)
    elif isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        text = f"{type(exc).__name__}: {exc}"
    elif isinstance(exc, RecursionError):
        text = "the input nests too deeply (a config including itself?)"
    else:
        text = str(exc) or type(exc).__name__
        if exc.__cause__ is not None and _is_datasets_error(exc):
            text += f" ({exc.__cause__})"
    return " ".join(text.split())


def _fail(exc: BaseException, code: int) -> int:
    if os.environ.get("LADD_DEBUG"):
        raise exc
    print(f"error: {one_line(exc)}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 user error, 3 training diverged, 128+N on signal N)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (already printed) and --help
        return exc.code if isinstance(exc.code, int) else 2
    if args.quiet:
        os.environ[QUIET_ENV] = "1"  # read by ladd_core.progress (also in child processes)
    if os.environ.get(QUIET_ENV, "") not in ("", "0"):  # --quiet or LADD_QUIET=1
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"  # the corpus loaders' own bars
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        return _fail(exc, 2)
    except FloatingPointError as exc:  # TrainingDiverged
        return _fail(exc, 3)
    except Exception as exc:
        if _is_datasets_error(exc):
            return _fail(exc, 2)
        raise
    except KeyboardInterrupt as exc:  # TrainingInterrupted carries 128 + signal number
        print(f"interrupted{f': {exc}' if str(exc) else ''}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 130))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
