"""An ensemble: several networks whose class probabilities are averaged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from digitnet.nn.module import Sequential


class Ensemble:
    """Average of the predicted probabilities of several trained networks.

    It answers the inference part of the :class:`Sequential` interface (``predict_proba``,
    ``predict``, ``input_shape``, ``meta``, state and config), so evaluation, prediction and
    model files treat it like a single network.

    Parameters
    ----------
    members : sequence of Sequential
        Built networks with the same input and output shapes.
    """

    def __init__(self, members: Sequence[Sequential]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member, got none")
        shapes = {(tuple(m.input_shape or ()), tuple(m.output_shape or ())) for m in members}
        if len(shapes) != 1:
            raise ValueError(
                f"ensemble members must share input and output shapes, got {sorted(shapes)}"
            )
        self.members = list(members)
        self.meta: dict[str, Any] = {}
        #: the digitnet version that wrote the model file it was loaded from (None: made here)
        self.saved_with: str | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        shape = self.members[0].input_shape
        assert shape is not None  # members are built
        return shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        shape = self.members[0].output_shape
        assert shape is not None
        return shape

    @property
    def layers(self):
        """The first member's layers (for looking inside; predictions use every member)."""
        return self.members[0].layers

    def predict_proba(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Mean of the members' probabilities: (N, ...) -> (N, classes)."""
        total = self.members[0].predict_proba(x, batch_size)
        for m in self.members[1:]:
            total = total + m.predict_proba(x, batch_size)
        return total / np.float32(len(self.members))

    def predict_logits(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Log of the averaged probabilities (so softmax of it gives them back)."""
        return np.log(np.maximum(self.predict_proba(x, batch_size), 1e-30))

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        return self.predict_proba(x, batch_size).argmax(axis=1)

    def num_parameters(self) -> int:
        return sum(m.num_parameters() for m in self.members)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {
            f"members.{i}.{k}": v
            for i, m in enumerate(self.members)
            for k, v in m.state_dict().items()
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for i, m in enumerate(self.members):
            prefix = f"members.{i}."
            m.load_state_dict(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )
        extra = [
            k
            for k in state
            if not k.startswith("members.") or int(k.split(".")[1]) >= len(self.members)
        ]
        if extra:
            raise ValueError(f"state does not match the ensemble: unexpected {extra[:5]}")

    def get_config(self) -> dict[str, Any]:
        return {"type": "Ensemble", "members": [m.get_config() for m in self.members]}

    @classmethod
    def from_config(cls, config: dict[str, Any], *, initialise: bool = True) -> Ensemble:
        return cls([Sequential.from_config(c, initialise=initialise) for c in config["members"]])

    def summary(self) -> str:
        first = self.members[0].summary()
        return (
            f"Ensemble of {len(self.members)} networks averaging their probabilities; "
            f"{self.num_parameters():,} parameters in all. Each member:\n{first}"
        )
