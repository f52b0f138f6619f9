"""How much of each quarter's characters a linear head reads from frozen-encoder latents on Shakespeare (issue #30).

For the first ``--sequences`` held-out Shakespeare windows (char tokenizer, L = 128), encodes the clean text with
each encoder variant and prints the ``latent-readout`` (bits/char recovered per quarter, held-out; see
``plugins/ladd_metrics/readout.py``), once from the clean latent and once from the latent of the corrupted input
(``t_x = 0.5``, ``p_r = 1``: every character hidden with probability 1/2).  Then, for ``delete`` vs ``mask``
hiding, the cosine between the corrupted and the clean latent of a sequence next to the cosine between the clean
latents of two different sequences (mean over sequences and slots), raw and centred (the clean latents' mean
over sequences subtracted: the raw cosine is dominated by the direction every Shakespeare window shares).

    python benchmarks/encoder_readout.py --sequences 400 --threads 2   # ~10 min on 2 busy cores
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ladd_core.build import build_data
from ladd_core.config.experiment import validate_config
from ladd_core.plugins import get_components
from ladd_encoders.hf import HFEncoder
from ladd_encoders.minilm import MiniLMEncoder
from ladd_metrics.readout import histogram_oracle, latent_readout

L = 128
VARIANTS: list[tuple[str, type[HFEncoder], dict[str, Any]]] = [
    ("minilm as it was: 4x32, delete", MiniLMEncoder, {"num_slots": 4, "dim": 32}),
    ("hf 4x384, mask", HFEncoder, {"num_slots": 4}),
    ("hf 4x384, delete", HFEncoder, {"num_slots": 4, "hide": "delete"}),
    ("hf 4x384, per_dim, no L2, mask", HFEncoder, {"num_slots": 4, "scale": "per_dim", "normalize": False}),
    ("hf 16x384, mask", HFEncoder, {"num_slots": 16}),
    ("hf per_token 128x384, mask", HFEncoder, {"num_slots": L, "pooling": "per_token"}),
    ("hf per_token 128x384, delete", HFEncoder, {"num_slots": L, "pooling": "per_token", "hide": "delete"}),
]


def shakespeare(n: int, work: Path) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """The data source and its first ``n`` held-out windows ``(n, L)``."""
    comps = get_components()
    cfg = validate_config({"data": {"name": "shakespeare", "seq_len": L}, "sampler": {"name": "ancestral"}}, comps)
    data = build_data(cfg, comps, work)
    toks, masks = [], []
    for batch in data.val_batches(n):
        toks.append(batch.tokens)
        masks.append(batch.attention_mask.bool())
        if sum(t.shape[0] for t in toks) >= n:
            break
    return data, torch.cat(toks)[:n], torch.cat(masks)[:n]


def encode(enc: torch.nn.Module, tokens: torch.Tensor, mask: torch.Tensor, hide: torch.Tensor | None) -> torch.Tensor:
    """Latents ``(N, K, d)`` in batches of 64."""
    out = []
    for i in range(0, tokens.shape[0], 64):
        h = None if hide is None else hide[i : i + 64]
        out.append(enc(tokens[i : i + 64], mask[i : i + 64], h))
    return torch.cat(out)


def cosines(clean: torch.Tensor, corrupted: torch.Tensor, center: bool) -> tuple[float, float]:
    """Mean cosine of each sequence's corrupted vs clean latent, and of the clean latents of sequence ``i`` and
    ``i + N/2`` (held-out windows are consecutive text: distant ones are unrelated); with ``center`` both after
    subtracting the clean latents' mean over sequences (per slot)."""
    shift = clean.shape[0] // 2
    keep = (clean.norm(dim=-1) > 0) & (corrupted.norm(dim=-1) > 0)  # (N, K); per_token: hidden positions are zero
    other_keep = keep & clean.roll(shift, dims=0).norm(dim=-1).gt(0)  # (N, K)
    if center:
        m = (clean * keep.unsqueeze(-1)).sum(0) / keep.sum(0).clamp(min=1).unsqueeze(-1)  # (K, d)
        clean, corrupted = clean - m, corrupted - m
    same = F.cosine_similarity(clean, corrupted, dim=-1)  # (N, K)
    other = F.cosine_similarity(clean, clean.roll(shift, dims=0), dim=-1)  # (N, K)
    return float(same[keep].mean()), float(other[other_keep].mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sequences", type=int, default=400)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-iter", type=int, default=100, help="LBFGS iterations per probe fit")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as d:
        data, tokens, mask = shakespeare(args.sequences, Path(d))
    vocab, detok = data.vocab_size, data.tokenizer.decode
    hide = (torch.rand(tokens.shape, generator=torch.Generator().manual_seed(0)) < 0.5) & mask  # t_x = 0.5, p_r = 1
    print(f"# Shakespeare, char tokenizer (V = {vocab}), L = {L}, {tokens.shape[0]} held-out windows, 4 quarters")
    print("| latent | K x d | bits/char clean | half hidden | cos(corr, clean) / cos(other) | centred | s |")
    print("|---|---|---|---|---|---|---|")

    clean_readouts: dict[str, Any] = {}  # the clean latent does not depend on `hide`: probe it once

    def row(name: str, clean: torch.Tensor, corrupted: torch.Tensor | None, t0: float, key: str = "") -> None:
        r = clean_readouts.get(key) if key else None
        r = r or latent_readout(clean, tokens, mask, vocab, max_iter=args.max_iter)
        if key:
            clean_readouts[key] = r
        cells = [f"{r.bits_per_char:.3f} ± {r.stderr:.3f}"]
        if corrupted is None:
            cells += ["–", "–", "–"]
        else:
            rc = latent_readout(corrupted, tokens, mask, vocab, max_iter=args.max_iter)
            cells.append(f"{rc.bits_per_char:.3f} ± {rc.stderr:.3f}")
            cells += ["{:.3f} / {:.3f}".format(*cosines(clean, corrupted, center)) for center in (False, True)]
        shape = "x".join(map(str, clean.shape[1:]))
        print(f"| {name} | {shape} | " + " | ".join(cells) + f" | {time.time() - t0:.0f} |", flush=True)

    row("histogram oracle (one char histogram per quarter)", histogram_oracle(tokens, mask, vocab), None, time.time())
    row("zero", torch.zeros(tokens.shape[0], 4, 32), None, time.time())
    for name, cls, fields in VARIANTS:
        t0 = time.time()
        enc = cls(cls.Config(**fields), vocab, L, detokenize=detok).eval()
        clean, corrupted = encode(enc, tokens, mask, None), encode(enc, tokens, mask, hide)
        if fields.get("scale") == "per_dim":
            var = clean.reshape(-1, clean.shape[-1]).var(dim=0)
            print(f"# {name}: per-dim variance on these windows: median {var.median():.2f}, mean {var.mean():.2f}")
        key = f"{cls.__name__}{sorted((k, v) for k, v in fields.items() if k != 'hide')}"
        row(name, clean, corrupted, t0, key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
