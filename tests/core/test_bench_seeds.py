"""`ladd bench-seeds` on a micro budget: every seed trains as the preset says, is scored and reported."""

from __future__ import annotations

import json

from ladd_core.cli.main import main

MICRO = ["model.backbone.layers=1", "model.backbone.hidden=16", "model.backbone.heads=2", "train.batch_size=8",
         "data.seq_len=32", "data.val_size=64", "train.max_steps=4", "train.stages=[0,2]", "train.log_every=2",
         "train.threads=1", "model.latent_denoiser.layers=1"]  # fmt: skip


def _args(out, *extra: str) -> list[str]:
    sets = [a for o in MICRO for a in ("--set", o)]
    return ["bench-seeds", "sawtooth-coladd", "--seeds", "0,1", "--steps", "1,2", "--num-samples", "8",
            "--out", str(out), *sets, *extra]  # fmt: skip


def test_seeds_are_trained_scored_and_tabulated(tmp_path, capsys) -> None:
    doc = tmp_path / "bench.md"
    doc.write_text("# Benchmarks\n\nkept\n")
    out = tmp_path / "seeds"
    assert main([*_args(out), "--doc", str(doc)]) == 0
    err = capsys.readouterr().err
    assert "bench-seeds: 1/2 runs (50%)" in err and "bench-seeds: 2/2 runs (100%)" in err  # one line per run
    for seed in (0, 1):
        run = out / f"sawtooth-coladd-wpreset-s{seed}"
        cfg = json.loads((run / "config.json").read_text())["config"]
        assert cfg["seed"] == seed and cfg["objective"]["full_mask_fraction"] == 0.25  # the preset, seed changed
        assert (run / "seed-eval.json").exists()
    saved = json.loads((out / "seeds.json").read_text())
    assert [r["seed"] for r in saved] == [0, 1]
    assert all(set(r["ratio"]) == {"1", "2"} and "latent-gain-full" in r["health"] for r in saved)
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nkept") and text.count("<!-- seeds:begin -->") == 1
    assert "| sawtooth-coladd | preset | 0,1 |" in text and "sawtooth-coladd-wpreset-s1" in text
    assert "Reference, `sawtooth`: ideal factorized one-step sampler" in text
    # a second invocation reuses the finished runs and replaces the section instead of appending
    assert main([*_args(out), "--doc", str(doc), "--report-only"]) == 0
    assert doc.read_text().count("<!-- seeds:begin -->") == 1


def test_empty_doc_means_no_report() -> None:
    """``--doc ''`` (as `ladd bench` takes it) failed after hours of training: Path('') is the current directory."""
    from ladd_core.cli.main import build_parser

    assert build_parser().parse_args(["bench-seeds", "sawtooth-coladd", "--doc", ""]).doc is None
    assert str(build_parser().parse_args(["bench-seeds", "sawtooth-coladd", "--doc", "b.md"]).doc) == "b.md"


def test_unknown_preset_fails_before_training(tmp_path, capsys) -> None:
    assert main(["bench-seeds", "sawtooth-coladdd", "--out", str(tmp_path / "x")]) == 2
    assert "sawtooth-coladd" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_factorized_reference_is_the_product_of_marginals_figure(tmp_path, components) -> None:
    """On the sawtooth a product-of-marginals sampler is known to score about 1.65 x entropy (MDLM at N = 1)."""
    from ladd_core.evaluation.robustness import factorized_reference

    name, ratio = factorized_reference("sawtooth-mdlm", components, 256, tmp_path)
    assert name == "sawtooth" and 1.55 < ratio < 1.75
