#!/usr/bin/env bash
# GPU check (< 5 min on one modern GPU): the CUDA-marked tests, then the speed benchmark in bf16
# (xformers attention when importable, else sdpa).  Run from the repository root on a machine with
# CUDA and a CUDA build of torch:  bash benchmarks/gpu_check.sh [extra speed.py args]
# Results: stdout, and docs/notes/benchmark-history.md is NOT modified (pass --doc PATH to write one).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export HF_HOME=${HF_HOME:-$(mktemp -d)}
OUT=${OUT:-$(mktemp -d)}

"$PY" - <<'PY'
import torch, sys
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if not torch.cuda.is_available():
    sys.exit("no CUDA device: nothing to check")
print("device", torch.cuda.get_device_name(0))
try:
    import xformers, xformers.ops  # noqa: F401
    print("xformers", xformers.__version__)
except Exception as exc:  # optional extra
    print("xformers not importable:", type(exc).__name__, exc)
PY

ATTN=sdpa
if "$PY" -c "import xformers.ops" 2>/dev/null; then ATTN=xformers; fi

echo "== CUDA tests"
timeout 150 "$PY" -m pytest -q -m cuda -p no:cacheprovider tests/ 2>&1 | tail -25

echo "== FSDP (1 process, NCCL) + bf16 smoke"
timeout 90 "$PY" -m ladd_core.cli.main train sawtooth-mdlm --out "$OUT/fsdp" --max-steps 20 \
  --set train.device=cuda --set train.precision=bf16 --set train.fsdp=true --set train.log_every=10 \
  --set train.checkpoint_every=10 --set train.eval_batches=1 2>&1 | tail -4 || echo "FSDP smoke FAILED"

DOC=(--no-doc)  # print only, unless the caller passes --doc PATH
for a in "$@"; do if [ "$a" = "--doc" ]; then DOC=(); fi; done

echo "== speed benchmark (bf16, attention=$ATTN)"
timeout 180 "$PY" benchmarks/speed.py --quick --device cuda --precision bf16 --attention "$ATTN" \
  --threads 8 "${DOC[@]}" "$@"
