"""Where two cultures of handwriting disagree, a reader's expectation decides.

A stroke with a long flag and no crossbar is a 1 in Zurich and could be a 7 in Ohio; a 4
closed at the top is a 4 in Istanbul and looks like a 9 to an American reader. A network
trained on both cultures has to hedge on those shapes. Told which culture the writing comes
from, it should not: a *style* multiplies the probabilities of the digits that culture
writes that way by :data:`PRIOR` (and renormalises), which is Bayes' rule with a different
prior over the ambiguous pairs.

- ``"auto"`` (the default): the network's own probabilities;
- ``"continental"`` (much of Europe, Latin America, Asia): 1 and 4 made likelier than 7 and
  9, because there 7s are crossed and 9s are not closed-top 4s;
- ``"american"`` (the USA, MNIST's writers): 7 and 9 made likelier than 1 and 4.

The factor is a round number fixed in advance, not fitted: ``benchmarks/generalization.py``
reports semeion (continental) and MNIST (American) read in every style.
"""

from __future__ import annotations

import numpy as np

from digitnet.errors import ConfigError

#: how much likelier a style makes the digits its culture writes in the ambiguous way
PRIOR = 3.0
#: the digits each style favours
FAVOURED = {"auto": (), "continental": (1, 4), "american": (7, 9)}
STYLES = tuple(FAVOURED)


def check_style(style: str) -> str:
    if style not in FAVOURED:
        raise ConfigError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    return style


def apply_style(proba: np.ndarray, style: str = "auto") -> np.ndarray:
    """``(N, 10)`` probabilities as a reader of ``style`` would weigh them -> ``(N, 10)``
    (the same array for ``"auto"``)."""
    favoured = FAVOURED[check_style(style)]
    if not favoured:
        return proba
    out = np.array(proba, dtype=np.float64)
    out[:, list(favoured)] *= PRIOR
    out /= out.sum(axis=1, keepdims=True)
    return out.astype(np.asarray(proba).dtype)
