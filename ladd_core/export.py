"""Portable models: ``ladd export RUN DIR`` and loading such a directory on another machine.

An exported model directory holds

- ``config.json``: the run record (config, ladd/torch versions, tokenizer fingerprint) plus an ``export``
  section: format, source run, step, stage, the SHA-256 of the weights, and for every component of
  the config the plug-in and Python package that provide it;
- ``model.safetensors``: the weights used to sample (EMA unless ``--raw``);
- ``data/tokenizer/``: the fitted tokenizer files, when the run has them;
- ``README.md``: a model card with the training budget and the run's measured numbers.

``ladd sample DIR`` and ``ladd.load(DIR)`` accept it; a component whose plug-in is not installed is
named with the package to install before anything is built.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ladd_core.config.experiment import ExperimentConfig, component_fields
from ladd_core.config.schema import ref_marker
from ladd_core.outputs import check_dir
from ladd_core.plugins import Components
from ladd_core.training.checkpoint import (
    CheckpointError,
    atomic_write_text,
    load_newest_valid,
    sha256_file,
    write_safetensors,
)
from ladd_core.training.portable import EXPORT_FORMAT, WEIGHTS_FILE, is_export_record
from ladd_core.training.runs import CONFIG_FILE, TOKENIZER_DIR, read_run_config, read_run_record, tokenizer_files

__all__ = ["component_sources", "export_run", "is_export", "model_card", "used_components"]

CARD_FILE = "README.md"


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def is_export(path: Path) -> bool:
    """Whether ``path`` is an exported model directory (its ``config.json`` has an ``export`` section)."""
    try:
        record = read_run_record(Path(path))
    except CheckpointError:
        return False
    return is_export_record(record)


def _ref_kind(cls: type[BaseModel], fname: str) -> str | None:
    """The component kind of field ``fname``, from the ``Ref`` of the static class that declares it.

    Validated configs are dynamic subclasses whose fields are rebuilt as tagged unions, so the
    marker is looked up along the MRO.
    """
    for klass in cls.__mro__:
        fields = klass.__dict__.get("__pydantic_fields__") or {}
        if fname in fields:
            marker, _ = ref_marker(fields[fname])
            if marker is not None:
                return marker.kind
    return None


def _nested(cfg: BaseModel, prefix: str) -> Iterator[tuple[str, str, str]]:
    """Component fields declared (with a ``Ref``) inside a component's own config, recursively."""
    for fname in type(cfg).model_fields:
        value = getattr(cfg, fname)
        kind = _ref_kind(type(cfg), fname) if isinstance(value, BaseModel) else None
        if kind is not None:
            yield f"{prefix}{fname}", kind, value.name  # type: ignore[attr-defined]
            yield from _nested(value, f"{prefix}{fname}.")


def used_components(cfg: ExperimentConfig) -> Iterator[tuple[str, str, str]]:
    """``(field path, kind, name)`` of every component in a validated config, nested ones included."""
    for path, kind in component_fields():
        value: Any = cfg
        for part in path.split("."):
            value = getattr(value, part, None)
        if isinstance(value, BaseModel):
            yield path, kind, value.name  # type: ignore[attr-defined]
            yield from _nested(value, f"{path}.")


def component_sources(cfg: ExperimentConfig, components: Components) -> dict[str, dict[str, Any]]:
    """For each component field of ``cfg``: its kind, name, and the plug-in / package / version providing it."""
    providers: dict[tuple[str, str], Any] = {}
    for info in components.plugins:
        for kind, names in info.components.items():
            for name in names:
                providers[(kind, name)] = info
    out = {}
    for path, kind, name in used_components(cfg):
        info = providers.get((kind, name))
        out[path] = {
            "kind": kind,
            "name": name,
            "plugin": info.name if info else None,
            "distribution": info.distribution if info else None,
            "version": info.version if info else None,
        }
    return out


def _final_record(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {}
    final: dict[str, Any] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("final"):
            final = rec
    return final


def _result_rows(files: list[Path], run_dir: Path) -> list[dict[str, Any]]:
    """Rows of ``ladd eval`` / ``bench-seeds`` result files that belong to ``run_dir``.

    Raises:
        ValueError: a file that is not a result file (named, with what is wrong).
    """
    rows = []
    for f in files:
        try:
            data = json.loads(Path(f).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ValueError(f"result file {f} is not JSON: {exc}") from None
        found = data.get("rows") if isinstance(data, dict) else None
        if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
            raise ValueError(f"result file {f} is not a ladd result file (no 'rows' list of objects)")
        for row in found:
            metrics = row.get("metrics", {})
            if not isinstance(row.get("run", ""), str) or not isinstance(metrics, dict):
                raise ValueError(f"result file {f} has a malformed row (run must be a string, metrics an object)")
            if not all(
                isinstance(m, dict) and isinstance(m.get("value"), int | float | None) for m in metrics.values()
            ):
                raise ValueError(f"result file {f} has a malformed metric value")
            if Path(row.get("run", "")).resolve() == run_dir.resolve() and row.get("seed") is not None:
                rows.append(row)
    return rows


def _copy_tokenizer(run_dir: Path, dest: Path, components: Components, log: Callable[[str], None]) -> None:
    """Copy the tokenizer's own files (its ``files``) to ``dest``; never a link, never anything else.

    Raises:
        CheckpointError: the tokenizer folder, or one of its files, is a symbolic link (it could lead
            out of the run) or not a plain file.
    """
    src = run_dir.joinpath(*TOKENIZER_DIR)
    for p in (run_dir / TOKENIZER_DIR[0], src):
        if p.is_symlink():
            raise CheckpointError(f"{p} is a symbolic link; ladd export never follows links out of the run")
    if not src.is_dir():
        return
    known = {name for names in tokenizer_files(components) for name in names}
    skipped = []
    dest.mkdir(parents=True)
    for entry in sorted(src.iterdir()):
        if entry.name not in known:
            skipped.append(entry.name)
            continue
        if entry.is_symlink() or not entry.is_file():
            raise CheckpointError(
                f"{entry} is a symbolic link or not a plain file; ladd export copies plain files only"
            )
        shutil.copyfile(entry, dest / entry.name, follow_symlinks=False)
    if skipped:
        log(f"export: left out {', '.join(skipped)} from {src} (only the tokenizer's own files are copied)")


def _clean_stale(parent: Path, name: str) -> None:
    """Remove temporaries of earlier exports to ``name`` whose process is gone (killed with SIGKILL)."""
    for tmp in parent.glob(f".{name}.*.tmp"):
        pid = tmp.name[len(name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def model_card(record: dict[str, Any], final: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The exported directory's README: what it is, the training budget, the measured numbers."""
    cfg, ex = record["config"], record["export"]
    tr, data = cfg.get("train", {}), cfg.get("data", {})
    tokens = ex["step"] * tr.get("batch_size", 0) * data.get("seq_len", 0)
    lines = [
        f"# {cfg.get('name') or 'ladd model'}",
        "",
        f"Exported by ladd {ex['ladd_version']} on {ex['created']} from `{ex['source_run']}` "
        f"(step {ex['step']}, stage {ex['stage']}, {'EMA' if ex['ema'] else 'raw'} weights).",
        "",
        "```",
        "ladd sample DIR --steps 4 --num-samples 8 --out samples.jsonl",
        "```",
        "where DIR is this directory; in Python: `ladd_core.load(DIR).sample(num_samples=8, steps=4)`.",
        "",
        "## Components",
        "",
        "| field | kind | name | plug-in | package |",
        "|---|---|---|---|---|",
    ]
    for path, src in sorted(ex["components"].items()):
        pkg = f"{src['distribution']} {src['version'] or ''}".strip() if src["distribution"] else "?"
        lines.append(f"| {path} | {src['kind']} | {src['name']} | {src['plugin']} | {pkg} |")
    lines += [
        "",
        "## Training budget",
        "",
        f"- steps: {ex['step']} of {tr.get('max_steps')}, batch {tr.get('batch_size')} x {data.get('seq_len')} tokens "
        f"= {tokens:,} tokens; lr {tr.get('lr')}, EMA {tr.get('ema')}, stages {tr.get('stages')}",
        f"- data: `{data.get('name')}`, seed {cfg.get('seed')}",
    ]
    if final:
        lines += ["", "## Final training record", "", "```json", json.dumps(final, indent=1), "```"]
    if rows:
        lines += ["", "## Evaluation", "", "| sampler | N | NFE | metric | value |", "|---|---|---|---|---|"]
        for row in rows:
            for name, m in sorted(row.get("metrics", {}).items()):
                v = m.get("value")
                lines.append(
                    f"| {row.get('sampler') or '(model)'} | {row.get('steps') or ''} | {row.get('nfe') or ''} "
                    f"| {name} | {'' if v is None else f'{v:.4g}'} |"
                )
    return "\n".join(lines) + "\n"


def export_run(
    run_dir: Path,
    out: Path,
    components: Components,
    *,
    use_ema: bool = True,
    results: list[Path] | None = None,
    log: Callable[[str], None] = _stderr,
) -> Path:
    """Write the self-contained model directory ``out`` for the newest valid checkpoint of ``run_dir``.

    The directory is assembled next to ``out`` and renamed into place, so ``out`` is either
    complete or absent.  ``results`` are ``ladd eval`` / ``bench-seeds`` JSON files whose rows
    for this run go into the model card (``RUN/seed-eval.json`` is used when present).

    Raises:
        FileExistsError: ``out`` exists and is not an empty directory.
        CheckpointError: the run has no valid checkpoint.
    """
    run_dir = Path(run_dir)
    out = check_dir(out, "export DIR")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty directory; choose a new export directory")
    cfg = read_run_config(run_dir, components)
    record = read_run_record(run_dir) or {}
    found = load_newest_valid(run_dir / "checkpoints", log)
    if found is None:
        raise CheckpointError(f"{run_dir} has no checkpoint yet; train it first")
    path, state = found
    weights = dict(state["model"])
    ema = use_ema and state["ema"] is not None
    if ema:
        weights.update(state["ema"])
    results = list(results or [])
    if (run_dir / "seed-eval.json").is_file():
        results.append(run_dir / "seed-eval.json")
    rows = _result_rows(results, run_dir)  # a bad results file fails before anything is written
    ts = state["train_state"]
    out.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(out.parent, out.name)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp"))
    try:
        write_safetensors({k: v.contiguous() for k, v in weights.items()}, tmp / WEIGHTS_FILE)
        _copy_tokenizer(run_dir, tmp.joinpath(*TOKENIZER_DIR), components, log)
        record = {
            **{k: v for k, v in record.items() if k != "source"},
            "export": {
                "format": EXPORT_FORMAT,
                "source_run": str(run_dir),
                "checkpoint": path.name,
                "step": ts.step,
                "stage": ts.stage,
                "ema": ema,
                "sha256": sha256_file(tmp / WEIGHTS_FILE),
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "ladd_version": record.get("ladd_version"),
                "components": component_sources(cfg, components),
            },
        }
        atomic_write_text(tmp / CONFIG_FILE, json.dumps(record, indent=2) + "\n")
        atomic_write_text(tmp / CARD_FILE, model_card(record, _final_record(run_dir), rows))
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
