"""``ladd sample --prompt/--infill`` and ``ladd eval --prompt-len`` on a tiny sawtooth run (seq_len 32)."""

from __future__ import annotations

import json

import pytest

from ladd_core.evaluation.schema import ResultSet
from tests.faults._cli import cli, error_line


@pytest.mark.parametrize("sampler", ["ancestral", "maskgit", "remdm"])
def test_sample_with_a_prompt_and_a_template_keeps_them(trained_run, tmp_path, capsys, sampler):
    out = tmp_path / "s.jsonl"
    code, _, err = cli(capsys, "sample", trained_run, "--sampler", sampler, "--steps", "2", "--num-samples", "5",
                       "--prompt", "0110", "--out", out)  # fmt: skip
    assert code == 0, err
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 5 and all(r["text"].startswith("0110") and len(r["text"]) == 32 for r in recs)
    assert all(r["given"] == 4 and r["prompt"] == "0110" for r in recs)
    code, _, err = cli(capsys, "sample", trained_run, "--sampler", sampler, "--steps", "2", "--num-samples", "3",
                       "--infill", "11<mask:3>00<mask>1", "--out", out)  # fmt: skip
    assert code == 0, err
    for r in map(json.loads, out.read_text().splitlines()):
        t = r["text"]
        assert t[:2] == "11" and t[5:7] == "00" and t[8] == "1" and r["given"] == 5


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--prompt", "0" * 33], ["33 tokens long", "generates 32"]),
        (["--prompt", "0" * 32], ["nothing to generate"]),
        (["--infill", "0101"], ["nothing to fill"]),
        (["--prompt", "01x"], ["cannot encode the prompt"]),
        (["--prompt", "0", "--infill", "<mask>"], ["not allowed with"]),
    ],
)
def test_bad_prompts_are_one_line_errors(trained_run, tmp_path, capsys, args, needles):
    code, _, err = cli(capsys, "sample", trained_run, "--steps", "2", *args, "--out", tmp_path / "s.jsonl")
    error_line(code, err, *needles)
    assert not (tmp_path / "s.jsonl").exists()


def test_eval_prompt_len_scores_completions_given_their_prompt(trained_run, tmp_path, capsys):
    res = tmp_path / "r.json"
    code, out, err = cli(capsys, "eval", trained_run, "--steps", "2", "--samplers", "ancestral,maskgit",
                         "--num-samples", "16", "--prompt-len", "8", "--metrics", "prompt-nll,true-nll",
                         "--out", res)  # fmt: skip
    assert code == 0, err
    rs = ResultSet.load(res)
    rows = [r for r in rs.rows if r.kind == "samples"]
    assert len(rows) == 2 and all(r.prompt_len == 8 for r in rows)
    for r in rows:
        assert {"prompt-nll", "prompt-entropy", "prompt-nll-ratio", "true-nll"} <= set(r.metrics)
    assert "prompt-nll [bits/generated token]" in out
    code, _, err = cli(capsys, "eval", trained_run, "--steps", "2", "--num-samples", "4", "--prompt-len", "32",
                       "--out", res)  # fmt: skip
    error_line(code, err, "--prompt-len 32 leaves nothing to generate")


def test_prompt_nll_needs_the_conditional_task(trained_run, tmp_path, capsys):
    res = tmp_path / "r.json"
    code, _, err = cli(capsys, "eval", trained_run, "--steps", "2", "--num-samples", "4", "--metrics",
                       "prompt-nll,true-nll", "--out", res)  # fmt: skip
    assert code == 0, err
    assert "metric 'prompt-nll' skipped: needs ['prompt']" in err
