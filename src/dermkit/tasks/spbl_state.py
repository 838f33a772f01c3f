"""The state one round of self-paced balance learning (SPBL) hands to the next, as JSON for exact resumption.

Yang, Wu et al., "Self-paced balance learning for clinical skin disease recognition", IEEE Transactions on Neural
Networks and Learning Systems, 2019. The random generator's state travels with the indices and weights, so a run
resumed after round k draws exactly what the uninterrupted run would have drawn.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

__all__ = ["SPBLState"]

_BIT_GENERATORS = {"MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"}


@dataclass
class SPBLState:
    """Everything a finished SPBL round hands to the next, JSON-serialisable for exact resumption.

    Attributes:
        round_index: Number of finished pace steps (0 after the initial fit on the easy set).
        easy_idx: Sorted indices of the initial easy set S0 into the training set.
        pool_idx: Sorted indices of the pool U into the training set.
        selected_idx: Indices into the pool chosen in the last round.
        paced_idx: Training-set indices of the features in the SVM's paced pool (duplicates allowed).
        sample_weights: Weight of each ``paced_idx`` entry (already decayed).
        class_weights: (C,) cost-sensitive class weights of the last round.
        rng_state: ``rng.bit_generator.state`` after the round (a dict of ints and strings).
    """

    round_index: int
    easy_idx: np.ndarray
    pool_idx: np.ndarray
    selected_idx: np.ndarray
    paced_idx: np.ndarray
    sample_weights: np.ndarray
    class_weights: np.ndarray
    rng_state: dict[str, Any] = field(default_factory=dict)

    _INT_ARRAYS = ("easy_idx", "pool_idx", "selected_idx", "paced_idx")
    _FLOAT_ARRAYS = ("sample_weights", "class_weights")

    def rng(self) -> np.random.Generator:
        """A generator positioned exactly where the saved one was."""
        name = self.rng_state.get("bit_generator")
        if name not in _BIT_GENERATORS:
            raise ValueError(f"SPBL state names bit generator {name!r}; expected one of {sorted(_BIT_GENERATORS)}")
        bit_generator = getattr(np.random, name)()
        bit_generator.state = self.rng_state
        return np.random.Generator(bit_generator)

    def to_json(self) -> str:
        """Serialise; float64 weights survive exactly (JSON writes the shortest round-tripping repr)."""
        data = asdict(self)
        for key in (*self._INT_ARRAYS, *self._FLOAT_ARRAYS):
            data[key] = np.asarray(data[key]).tolist()
        data["rng_state"] = _plain(self.rng_state)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> SPBLState:
        """Inverse of :meth:`to_json`; raises ValueError naming missing or unknown keys."""
        data = json.loads(text)
        expected = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) != expected:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"SPBL state must hold the keys {sorted(expected)}, got {got}")
        for key in cls._INT_ARRAYS:
            data[key] = np.asarray(data[key], dtype=np.int64)
        for key in cls._FLOAT_ARRAYS:
            data[key] = np.asarray(data[key], dtype=np.float64)
        return cls(**data)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    return value
