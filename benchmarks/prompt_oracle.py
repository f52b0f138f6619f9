"""The best any one-step (N = 1) token-only sampler can do on the prompted sawtooth, computed exactly.

At N = 1 an MDLM draws every masked position independently from its denoiser's marginal
``p(x_l | prompt)``.  A perfectly trained MDLM's marginals are the true ones, which the sawtooth gives
in closed form: the phase posterior given the prompt (positions are independent given the phase) and
``q_l = E[p_l(u) | prompt]``.  This script draws completions from ``prod_l q_l`` for the first
``--num-samples`` held-out prompts of ``--prompt-len`` tokens and reports their ``prompt-nll`` (true
``-log2 p(x_gen | prompt)`` per generated token) next to the real continuations' -- the number an
MDLM at N = 1 approaches with training, so a LADD result below it is a win no MDLM can match at N = 1.

    python benchmarks/prompt_oracle.py --prompt-len 32 --num-samples 2048 --seeds 0,1
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from tempfile import TemporaryDirectory

import torch

from ladd_core.components.metrics import EvalContext
from ladd_core.conditioning import Condition
from ladd_data.sawtooth import Sawtooth, sawtooth_probs
from ladd_metrics._stats import mean_stderr
from ladd_metrics.conditional import completion_nll_bits


def oracle_marginals(saw: Sawtooth, tokens: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """``P(x_l = 1 | x_visible)`` ``(B, L)`` float64 under the true process (midpoint phase grid)."""
    cfg = saw.config
    g = cfg.grid_points
    u = (torch.arange(g, dtype=torch.float64) + 0.5) / (g * cfg.num_teeth)  # (G,) one period
    p = sawtooth_probs(u, cfg.seq_len, cfg.num_teeth, cfg.floor)  # (G, L)
    log_p, log_q = p.log(), torch.log1p(-p)
    obs = visible.to(torch.float64)  # (B, L)
    ones = (tokens == 1).to(torch.float64) * obs
    zeros = (tokens == 0).to(torch.float64) * obs
    log_w = ones @ log_p.T + zeros @ log_q.T  # (B, G) log p(prompt | u)
    w = torch.softmax(log_w, dim=1)  # (B, G) phase posterior
    return w @ p  # (B, L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--num-samples", type=int, default=1024)
    ap.add_argument("--seeds", default="0,1")
    args = ap.parse_args()
    with TemporaryDirectory() as tmp:
        saw = Sawtooth(Sawtooth.Config(seq_len=128), seed=0, work_dir=Path(tmp))  # the preset's data
        real = torch.cat([b.tokens for b in saw.val_batches(256, math.ceil(args.num_samples / 256))])
        real = real[: args.num_samples]
        visible = torch.zeros_like(real, dtype=torch.bool)
        visible[:, : args.prompt_len] = True
        cond = Condition(real.clone(), visible)
        ctx = EvalContext(saw)
        q = oracle_marginals(saw, real, visible)
        h, se_h = mean_stderr(completion_nll_bits(ctx, real, cond))
        print(f"prompt-entropy (real continuations): {h:.4f} ± {se_h:.4f} bits/generated token")
        for seed in (int(s) for s in args.seeds.split(",")):
            g = torch.Generator().manual_seed(seed)
            draw = (torch.rand(q.shape, generator=g, dtype=torch.float64) < q).long()
            x = cond.apply(draw)
            m, se = mean_stderr(completion_nll_bits(ctx, x, cond))
            print(f"seed {seed}: ideal N=1 token-only prompt-nll {m:.4f} ± {se:.4f}  (ratio {m / h:.3f})")


if __name__ == "__main__":
    main()
