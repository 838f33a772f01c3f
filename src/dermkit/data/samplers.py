"""Training samplers that re-balance classes, and ``create_sampler``: the registry ``data.sampler`` selects from.

Each draws ``num_samples`` images (default: one epoch, ``len(labels)``) with replacement, image i with probability
``p(c_i) / n_{c_i}``: the class is drawn with probability ``p(c)`` and the image uniformly within it. They differ in
``p(c)`` (Kang et al., ICLR 2020, write all three as ``n_c^q / sum_k n_k^q``):

- ``balanced``: every class equally likely (q = 0);
- ``sqrt``: proportional to ``sqrt(n_c)`` (q = 1/2);
- ``progressive``: from the data's own frequencies (q = 1) at the first epoch to balanced at the last.

A class with no images has probability 0. The samplers are torch ``WeightedRandomSampler`` objects; the
progressive one changes its weights in ``set_epoch``, which Lightning calls on a loader's sampler every epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler, WeightedRandomSampler

from dermkit.registry import Registry

SAMPLERS: Registry[Callable[..., Sampler[int]]] = Registry("sampler")


def _class_counts(labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    labels_array = np.asarray(labels, dtype=np.int64)
    if labels_array.ndim != 1 or labels_array.size == 0 or (labels_array < 0).any():
        raise ValueError("a sampler needs the class index (>= 0) of every training image, and at least one image")
    return labels_array, np.bincount(labels_array)


def class_power_probabilities(class_counts: Sequence[int] | np.ndarray, q: float) -> np.ndarray:
    """Class probabilities ``n_c^q / sum_k n_k^q`` (Kang et al., ICLR 2020); 0 for a class with no images.

    Args:
        class_counts: images per class.
        q: 1 = the data's frequencies (instance-balanced), 0.5 = square-root, 0 = class-balanced.

    Shape:
        class_counts (C,); output (C,) float64.
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    powered = np.zeros_like(counts)
    present = counts > 0
    powered[present] = counts[present] ** q  # masked: 0 ** 0 would give an empty class a share
    return powered / powered.sum()


def _image_weights(labels: np.ndarray, counts: np.ndarray, class_probs: np.ndarray) -> torch.Tensor:
    """Per-image weight ``p(c) / n_c`` for a class-probability vector."""
    return torch.as_tensor(class_probs[labels] / counts[labels], dtype=torch.double)


def _weighted(labels: Sequence[int], q: float, num_samples: int | None, seed: int) -> WeightedRandomSampler:
    labels_array, counts = _class_counts(labels)
    weights = _image_weights(labels_array, counts, class_power_probabilities(counts, q))
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(weights, num_samples or len(labels_array), replacement=True, generator=generator)


def balanced_sampler(labels: Sequence[int], num_samples: int | None = None, seed: int = 0) -> WeightedRandomSampler:
    """Draw every class equally often: each image weighs ``1 / (images of its class)``.

    Args:
        labels: class index of each training image.
        num_samples: draws per epoch (default: one epoch's worth, ``len(labels)``).
        seed: makes the draws reproducible.
    """
    return _weighted(labels, 0.0, num_samples, seed)


def sqrt_sampler(labels: Sequence[int], num_samples: int | None = None, seed: int = 0) -> WeightedRandomSampler:
    """Draw class c with probability proportional to ``sqrt(n_c)`` (square-root sampling, as compared by Kang et
    al., "Decoupling Representation and Classifier for Long-Tailed Recognition", ICLR 2020).

    Args:
        labels: class index of each training image.
        num_samples: draws per epoch (default ``len(labels)``).
        seed: makes the draws reproducible.
    """
    return _weighted(labels, 0.5, num_samples, seed)


class ProgressiveSampler(WeightedRandomSampler):
    """Progressively-balanced sampling: class probabilities ``(1 - t) p_instance + t p_balanced``.

    From Kang, Xie, Rohrbach, Yan, Gordo, Feng and Kalantidis, "Decoupling Representation and Classifier for
    Long-Tailed Recognition", ICLR 2020. The paper uses ``t = epoch / total_epochs``; here
    ``t = epoch / (total_epochs - 1)``, so the first epoch draws the data's own frequencies and the last one is
    fully class-balanced (a one-epoch run keeps the data's frequencies).

    Args:
        labels: class index of each training image.
        total_epochs: epochs of the run (>= 1).
        num_samples: draws per epoch (default ``len(labels)``).
        seed: makes the draws reproducible.
    """

    def __init__(self, labels: Sequence[int], total_epochs: int, num_samples: int | None = None, seed: int = 0) -> None:
        if total_epochs < 1:
            raise ValueError(f"total_epochs must be >= 1, got {total_epochs}")
        self.labels, self.counts = _class_counts(labels)
        self.total_epochs = total_epochs
        self.epoch = 0
        generator = torch.Generator().manual_seed(seed)
        super().__init__(self._weights(), num_samples or len(self.labels), replacement=True, generator=generator)

    def class_probabilities(self) -> np.ndarray:
        """This epoch's class probabilities (C,)."""
        t = min(1.0, self.epoch / max(1, self.total_epochs - 1))
        instance = class_power_probabilities(self.counts, 1.0)
        return (1.0 - t) * instance + t * class_power_probabilities(self.counts, 0.0)

    def _weights(self) -> torch.Tensor:
        return _image_weights(self.labels, self.counts, self.class_probabilities())

    def set_epoch(self, epoch: int) -> None:
        """Move the schedule to ``epoch`` (0-based); Lightning calls this before each training epoch."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch
        self.weights = self._weights()


@SAMPLERS.register("balanced")
def _make_balanced(
    labels: Sequence[int], seed: int = 0, *, num_samples: int | None = None, total_epochs: int | None = None
) -> Sampler[int]:
    return balanced_sampler(labels, num_samples, seed)


@SAMPLERS.register("sqrt")
def _make_sqrt(
    labels: Sequence[int], seed: int = 0, *, num_samples: int | None = None, total_epochs: int | None = None
) -> Sampler[int]:
    return sqrt_sampler(labels, num_samples, seed)


@SAMPLERS.register("progressive")
def _make_progressive(
    labels: Sequence[int], seed: int = 0, *, num_samples: int | None = None, total_epochs: int | None = None
) -> Sampler[int]:
    if total_epochs is None:
        raise ValueError("sampler 'progressive' needs total_epochs (the run's trainer.max_epochs)")
    return ProgressiveSampler(labels, total_epochs, num_samples, seed)


def create_sampler(name: str, labels: Sequence[int], seed: int = 0, **options: int | None) -> Sampler[int]:
    """Build the sampler registered as ``name`` (``balanced``, ``sqrt``, ``progressive``).

    Args:
        name: registered sampler name.
        labels: class index of each training image.
        seed: makes the draws reproducible.
        **options: ``num_samples`` (draws per epoch, default ``len(labels)``) and ``total_epochs`` (the run's
            length; needed by ``progressive``, ignored by the samplers that do not change with the epoch).
            ``None`` values are ignored; any other option raises, naming it.

    Returns:
        A sampler for ``DataLoader(sampler=...)``.
    """
    factory = SAMPLERS.get(name)
    unknown = sorted(set(options) - {"num_samples", "total_epochs"})
    if unknown:
        raise ValueError(f"sampler '{name}' does not take '{unknown[0]}'; its options: num_samples, total_epochs")
    return factory(labels, seed, **{key: value for key, value in options.items() if value is not None})
