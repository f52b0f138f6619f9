"""The EMA of the weights: warm-up of the decay, and an EMA model as good as the raw one after a short run."""

from __future__ import annotations

import pytest
import torch

from ladd_core.config.experiment import validate_config
from ladd_core.training.factory import build_trainer
from ladd_core.training.optim import EMA, ema_decay


def test_ema_decay_warms_up_then_caps():
    assert ema_decay(0.999, 0) == pytest.approx(0.1)  # the first update keeps 90 % of the live weights
    assert ema_decay(0.999, 90) == pytest.approx(91 / 100)
    assert ema_decay(0.999, 10**6) == 0.999  # capped at the configured decay
    assert ema_decay(0.0, 5) == 0.0  # EMA off stays off
    assert all(ema_decay(0.99, n) <= ema_decay(0.99, n + 1) for n in range(2000))


def test_ema_update_uses_the_update_count():
    m = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(0.0)
    ema = EMA(m, decay=0.999)
    with torch.no_grad():
        m.weight.fill_(1.0)
    ema.update(m)  # d_0 = 0.1
    assert float(ema.shadow["weight"]) == pytest.approx(0.9)
    ema.update(m)  # d_1 = 2 / 11
    assert float(ema.shadow["weight"]) == pytest.approx(1 - 0.1 * 2 / 11)
    assert ema.num_updates == 2
    resumed = EMA(m, decay=0.999, num_updates=2)
    with torch.no_grad():
        resumed.shadow["weight"].copy_(ema.shadow["weight"])
    ema.update(m)
    resumed.update(m)
    assert torch.equal(ema.shadow["weight"], resumed.shadow["weight"]), "the count, not the object, sets d_n"


def _tiny_text_config(corpus: str) -> dict:
    return {
        "seed": 0,
        "model": {
            "token_process": {"name": "masked", "schedule": {"name": "linear"}},
            "latent": {"name": "none"},
            "backbone": {"name": "dit", "hidden": 32, "layers": 1, "heads": 2, "cond_dim": 16},
        },
        "objective": {"name": "masked-ce"},
        "data": {"name": "text", "files": [corpus], "seq_len": 32, "sample_by": "line", "val_fraction": 0.1},
        "train": {
            "batch_size": 16,
            "max_steps": 150,
            "lr": 3e-3,
            "warmup_steps": 10,
            "ema": 0.999,
            "log_every": 1000,
            "checkpoint_every": 1000,
            "eval_batches": 4,
            "threads": 1,
        },
    }


def test_ema_model_is_not_worse_than_raw_model_after_a_short_run(tmp_path, components):
    """With a fixed decay of 0.999, 150 updates leave 86 % of the random init in the shadow (issue #12)."""
    words = ["thee", "thou", "king", "lord", "love", "night", "sweet", "death", "good", "fair"]
    g = torch.Generator().manual_seed(0)
    lines = [" ".join(words[int(i)] for i in torch.randint(len(words), (8,), generator=g)) for _ in range(400)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = validate_config(_tiny_text_config(str(corpus)), components)
    trainer = build_trainer(cfg, components, tmp_path / "run", log=lambda msg: None)
    with_ema = trainer.train()["val_nelbo_bpt"]
    trainer.ema = EMA(trainer.model, 0.0)  # a shadow equal to the raw weights
    raw = trainer.evaluate()["val_nelbo_bpt"]
    assert raw < 3.5, f"the raw model learned too little to tell ({raw:.2f} bits/char)"
    assert with_ema <= raw + 0.1, f"EMA {with_ema:.3f} vs raw {raw:.3f} bits/char"
