"""Samplers never emit ids that cannot occur in the data (``<pad>``, ``<unk>``): issue #12."""

from __future__ import annotations

import pytest
import torch

from ladd_core.build import build_model, build_sampler
from ladd_core.config.experiment import validate_config
from ladd_tokenizers.bpe import BPETokenizer
from ladd_tokenizers.char import CharTokenizer

VOCAB, LENGTH = 6, 12
FORBIDDEN = (4, 5)  # a third of an untrained (uniform) model's mass
_GAUSSIAN = {
    "name": "gaussian",
    "encoder": {"name": "transformer", "num_slots": 2, "dim": 8, "hidden": 16, "layers": 1, "heads": 2},
}
_MMDIT = {"name": "mmdit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8}
_MODELS = {
    "ancestral": {"backbone": {"name": "dit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8}},
    "joint": {"latent": _GAUSSIAN, "backbone": _MMDIT},
    "sequential": {
        "latent": _GAUSSIAN,
        "backbone": _MMDIT,
        "latent_denoiser": {"name": "latent-dit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8},
    },
}


def _model(components, sampler: str, forbidden: tuple[int, ...], **sampler_options):
    data = {
        "model": _MODELS[sampler],
        "data": {"name": "sawtooth", "seq_len": LENGTH},
        "sampler": {"name": sampler, "steps": 4, **sampler_options},
    }
    cfg = validate_config(data, components)
    torch.manual_seed(0)
    model = build_model(cfg, components, vocab_size=VOCAB, seq_len=LENGTH, forbidden_ids=forbidden).eval()
    return model, build_sampler(components, cfg.sampler)


@pytest.mark.parametrize("sampler", ["ancestral", "joint", "sequential"])
@pytest.mark.parametrize("options", [{}, {"temperature": 2.0, "top_p": 0.99}])
def test_samplers_never_emit_forbidden_ids(components, sampler, options):
    model, smp = _model(components, sampler, FORBIDDEN, **options)
    tokens = smp.sample(model, 32, generator=torch.Generator().manual_seed(1)).tokens
    assert tokens.shape == (32, LENGTH)
    assert not torch.isin(tokens, torch.tensor(FORBIDDEN)).any()
    assert set(tokens.unique().tolist()) == {0, 1, 2, 3}, "the allowed ids are all still drawn"


def test_without_forbidden_ids_the_same_model_emits_them(components):
    """The control: the untrained model does put mass on ids 4 and 5, so the test above can fail."""
    model, smp = _model(components, "ancestral", ())
    tokens = smp.sample(model, 32, generator=torch.Generator().manual_seed(1)).tokens
    assert torch.isin(tokens, torch.tensor(FORBIDDEN)).any()


def test_sampling_log_probs_renormalise_over_allowed_ids(components):
    model, _ = _model(components, "ancestral", FORBIDDEN)
    logits = torch.randn(2, LENGTH, VOCAB + 1, generator=torch.Generator().manual_seed(0))
    x_t = torch.full((2, LENGTH), VOCAB)  # all masked
    x_t[0, 0] = 2  # an unmasked position keeps its Dirac
    p = model.sampling_log_probs(logits, x_t).double().exp()
    assert torch.allclose(p.sum(-1), torch.ones(2, LENGTH, dtype=torch.float64))
    assert (p[..., list(FORBIDDEN)] == 0).all() and (p[..., VOCAB] == 0).all()
    assert p[0, 0, 2] == 1.0
    ref = torch.softmax(logits[1, 1, :4].double(), -1)
    assert torch.allclose(p[1, 1, :4], ref, atol=1e-6)


def test_model_rejects_forbidding_every_or_an_unknown_id(components):
    with pytest.raises(ValueError, match="forbidden_ids"):
        _model(components, "ancestral", tuple(range(VOCAB)))
    with pytest.raises(ValueError, match="forbidden_ids"):
        _model(components, "ancestral", (VOCAB,))


def test_tokenizers_declare_their_non_data_ids(tmp_path):
    char = CharTokenizer()
    char.fit(["ab c"])
    assert char.non_data_ids == {char.unk_id, char.pad_id} == {4, 5}
    bpe = BPETokenizer(BPETokenizer.Config(vocab_size=300))
    bpe.fit(["hello world"] * 10)
    assert bpe.non_data_ids == {bpe.pad_id} and bpe.eos_id not in bpe.non_data_ids


def test_a_trained_char_run_forbids_unk_and_pad_when_loaded(tmp_path, components):
    from ladd_core.sampling import draw_samples, sampler_config
    from ladd_core.training.factory import build_trainer
    from ladd_core.training.runs import load_run

    corpus = tmp_path / "c.txt"
    corpus.write_text("to be or not to be\nthat is the question\n" * 40, encoding="utf-8")
    data = {
        "model": {"backbone": {"name": "dit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8}},
        "data": {"name": "text", "files": [str(corpus)], "seq_len": 16, "sample_by": "line"},
        "train": {"batch_size": 4, "max_steps": 2, "warmup_steps": 1, "eval_batches": 1, "checkpoint_every": 2},
    }
    build_trainer(validate_config(data, components), components, tmp_path / "run", log=lambda m: None).train()
    run = load_run(tmp_path / "run", components)
    tok = run.data.tokenizer
    assert run.model.forbidden_ids == tuple(sorted(tok.non_data_ids)) == (tok.unk_id, tok.pad_id)
    res = draw_samples(components, run, sampler_config(components, run, steps=4), num_samples=16, seed=0)
    assert not torch.isin(res.tokens, torch.tensor(run.model.forbidden_ids)).any()
    assert not any("\ufffd" in t for t in res.texts) and all(len(t) == 16 for t in res.texts)
