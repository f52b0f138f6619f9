"""Built-in metrics (kind ``metric``), each declaring what it ``requires``.

* ``true-nll``, ``phase-ks`` -- under a known generator (``"known_generator"``);
* ``prompt-nll`` -- completions given their prompt under a known generator (``ladd eval --prompt-len``);
* ``swd``, ``token-kl``, ``entropy``, ``repetition`` -- generated vs held-out sequences;
* ``nelbo`` -- the model's NLL bound on held-out data (``"model"``);
* ``zero-shot-nelbo`` -- the bound on a text file (``"model"``, ``"zero_shot"``);
* ``gen-ppl`` -- perplexity under an external judge (``"judge"``, ``"text"``);
* ``real-words`` -- share of generated words found in the training text (``"text"``);
* ``codebook`` -- codebook use of a discrete-code latent on held-out data (``"model"``, ``"codes"``);
* ``latent-health`` -- is the latent informative and used (``"model"``; latent models only);
* ``latent-readout`` -- bits/char a linear head recovers from the encoder's latent per chunk (``"model"``);
* ``latent-gap`` -- true NLL of samples given the encoder's vs the latent sampler's latent, and their gap
  (``"model"``, ``"known_generator"``; sequential latent models only).

See ``docs/evaluation.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl

if TYPE_CHECKING:
    from ladd_core.components.metrics import Metric
    from ladd_core.registry import Register


@hookimpl
def ladd_register_metrics(register: Register[type[Metric]]) -> None:
    from ladd_metrics.codebook import CodebookUsage
    from ladd_metrics.conditional import PromptNLL
    from ladd_metrics.distribution import Entropy, Repetition, SlicedWasserstein, TokenKL
    from ladd_metrics.gap import LatentGap
    from ladd_metrics.generator import PhaseKS, TrueNLL
    from ladd_metrics.genppl import GenPPL
    from ladd_metrics.health import LatentHealth
    from ladd_metrics.likelihood import NELBO, ZeroShotNELBO
    from ladd_metrics.readout import LatentReadout
    from ladd_metrics.words import RealWords

    register("true-nll", TrueNLL)
    register("phase-ks", PhaseKS)
    register("prompt-nll", PromptNLL)
    register("swd", SlicedWasserstein)
    register("token-kl", TokenKL)
    register("entropy", Entropy)
    register("repetition", Repetition)
    register("nelbo", NELBO)
    register("zero-shot-nelbo", ZeroShotNELBO)
    register("gen-ppl", GenPPL)
    register("real-words", RealWords)
    register("codebook", CodebookUsage)
    register("latent-health", LatentHealth)
    register("latent-readout", LatentReadout)
    register("latent-gap", LatentGap)
