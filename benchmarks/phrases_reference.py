"""Reference numbers of the ``phrases`` data (issues #30, #34): entropy and the ideal factorized sampler's ratio.

The ideal factorized sampler draws every position independently from its exact marginal
``p(x_l) = mean_c q_cl(x_l)``: what a perfectly trained MDLM does at N = 1.  Its ``true-nll-ratio``
(true NLL of its samples over the data entropy, as the ``true-nll`` metric reports) is the floor no
MDLM can beat at N = 1; the ideal class-conditional factorized sampler (positions from ``q_cl`` given
the true class) is the data itself, ratio 1.0.  Entropy: ``[H(X|C) + log C - H(C|X)] / L`` with only
``H(C|X)`` by Monte Carlo, checked against the plain Monte Carlo of ``-log p(x) / L``.

    python benchmarks/phrases_reference.py                         # the defaults
    python benchmarks/phrases_reference.py --noise 0.1,0.15,0.2,0.25 --num-samples 4096
"""

from __future__ import annotations

import argparse
import math
import time

from ladd_data.phrases import PhrasesSource

LN2 = math.log(2.0)


def report(cfg: PhrasesSource.Config, n: int, seed: int, verbose: bool) -> str:
    """One table row for ``cfg`` (and, with ``verbose``, its vocabulary and phrases first)."""
    t0 = time.perf_counter()
    src = PhrasesSource(cfg)
    model = src.model
    t_build = time.perf_counter() - t0
    if verbose:
        alphabet = src.tokenizer.decode(list(range(src.tokenizer.unk_id)))
        print(f"classes C = {model.classes}, L = {model.seq_len}, phrase_seed = {cfg.phrase_seed}")
        print(f"vocabulary: {len(alphabet)} characters + <unk>, <pad> = {src.vocab_size} ids: {alphabet!r}")
        for i, p in enumerate(src.phrases[:4]):
            print(f"  phrase {i}: {p!r}")
        print(f"  ... ({len(src.phrases)} phrases)")
    t1 = time.perf_counter()
    h = model.entropy(n, seed)
    h_mc = model.entropy_mc(n, seed + 1)
    f = model.factorized_nll(n, seed + 2)
    t_ref = time.perf_counter() - t1
    ratio = f.value / h.value
    se_r = ratio * math.hypot(f.stderr / f.value, h.stderr / h.value)
    return (
        f"{cfg.noise:5.3f}  {h.value:.4f} ± {h.stderr:.1e}  {h.value / LN2:.4f}  {h_mc.value:.4f} ± {h_mc.stderr:.4f}"
        f"  {f.value:.4f} ± {f.stderr:.4f}  {ratio:6.3f} ± {se_r:.3f}  1.000   {t_build:5.2f}  {t_ref:5.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise", default=None, help="comma-separated noise levels (default: the config's)")
    ap.add_argument("--classes", type=int, default=None)
    ap.add_argument("--seq-len", type=int, default=None)
    ap.add_argument("--phrase-seed", type=int, default=0)
    ap.add_argument("--num-samples", type=int, default=16384, help="Monte-Carlo draws per estimate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    base = {"phrase_seed": args.phrase_seed}
    if args.classes is not None:
        base["classes"] = args.classes
    if args.seq_len is not None:
        base["seq_len"] = args.seq_len
    noises = [float(v) for v in args.noise.split(",")] if args.noise else [PhrasesSource.Config().noise]
    print(f"Monte-Carlo draws per estimate: {args.num_samples}; nats per character unless said otherwise")
    header = (
        "noise  H(X)/L (exact but H(C|X))  bits    H(X)/L plain MC    factorized NLL     "
        "factorized ratio  cond.  build_s  ref_s"
    )
    rows = [
        report(PhrasesSource.Config(**base, noise=v), args.num_samples, args.seed, i == 0) for i, v in enumerate(noises)
    ]
    print(header)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
