"""Class-rebalancing samplers: each one's empirical class frequencies match its target, registry and config."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from dermkit import config
from dermkit.data.samplers import (
    SAMPLERS,
    ProgressiveSampler,
    balanced_sampler,
    class_power_probabilities,
    create_sampler,
    sqrt_sampler,
)
from dermkit.errors import ConfigError

# 64 / 16 / 4 images: sqrt(n) = 8 / 4 / 2, so square-root sampling draws the classes 4/7, 2/7, 1/7
LABELS = [0] * 64 + [1] * 16 + [2] * 4
DRAWS = 20_000
TOLERANCE = 0.015  # > 4 standard deviations of a frequency near 1/3 over 20,000 draws


def frequencies(sampler, labels=LABELS, classes: int = 3) -> np.ndarray:
    drawn = np.asarray(labels)[list(sampler)]
    return np.bincount(drawn, minlength=classes) / len(drawn)


def test_balanced_sampler_draws_every_class_equally_often() -> None:
    np.testing.assert_allclose(frequencies(balanced_sampler(LABELS, DRAWS, seed=0)), [1 / 3] * 3, atol=TOLERANCE)


def test_sqrt_sampler_draws_classes_in_proportion_to_the_square_root_of_their_size() -> None:
    np.testing.assert_allclose(frequencies(sqrt_sampler(LABELS, DRAWS, seed=0)), [4 / 7, 2 / 7, 1 / 7], atol=TOLERANCE)


def test_progressive_sampler_moves_from_instance_frequencies_to_uniform() -> None:
    sampler = ProgressiveSampler(LABELS, total_epochs=5, num_samples=DRAWS, seed=0)
    np.testing.assert_allclose(frequencies(sampler), [64 / 84, 16 / 84, 4 / 84], atol=TOLERANCE)
    sampler.set_epoch(2)  # halfway: the mean of [64, 16, 4] / 84 and [1, 1, 1] / 3
    halfway = [(64 / 84 + 1 / 3) / 2, (16 / 84 + 1 / 3) / 2, (4 / 84 + 1 / 3) / 2]
    np.testing.assert_allclose(sampler.class_probabilities(), halfway)
    np.testing.assert_allclose(frequencies(sampler), halfway, atol=TOLERANCE)
    sampler.set_epoch(4)  # the last epoch
    np.testing.assert_allclose(frequencies(sampler), [1 / 3] * 3, atol=TOLERANCE)
    sampler.set_epoch(0)
    np.testing.assert_allclose(sampler.class_probabilities(), [64 / 84, 16 / 84, 4 / 84])


def test_lightning_moves_the_progressive_sampler_to_each_epoch() -> None:
    import lightning as L

    sampler = ProgressiveSampler(LABELS, total_epochs=3, seed=0)
    seen: list[int] = []

    class Probe(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def training_step(self, batch: list[torch.Tensor], index: int) -> torch.Tensor:
            if index == 0:
                seen.append(sampler.epoch)
            return self.layer(batch[0].float()[:, None]).sum()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.0)

    loader = DataLoader(TensorDataset(torch.arange(len(LABELS))), batch_size=42, sampler=sampler)
    options = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False}
    L.Trainer(max_epochs=3, enable_model_summary=False, **options).fit(Probe(), loader)
    assert seen == [0, 1, 2]


def test_class_power_probabilities_by_hand() -> None:
    np.testing.assert_allclose(class_power_probabilities([64, 16, 4], 0.5), [4 / 7, 2 / 7, 1 / 7])
    np.testing.assert_allclose(class_power_probabilities([64, 0, 16], 0.0), [0.5, 0.0, 0.5])
    np.testing.assert_allclose(class_power_probabilities([3, 0, 1], 1.0), [0.75, 0.0, 0.25])


@pytest.mark.parametrize("name", ["balanced", "sqrt", "progressive"])
def test_a_class_with_no_images_is_never_drawn_and_the_others_share_its_probability(name: str) -> None:
    labels = [0] * 30 + [2] * 10  # class 1 has no image
    sampler = create_sampler(name, labels, seed=0, num_samples=4000, total_epochs=1)
    observed = frequencies(sampler, labels)
    assert observed[1] == 0
    target = {"balanced": [0.5, 0, 0.5], "sqrt": [0.634, 0, 0.366], "progressive": [0.75, 0, 0.25]}[name]
    # sqrt: sqrt(30) / (sqrt(30) + sqrt(10)) = 0.634; progressive over one epoch stays at the data's frequencies
    np.testing.assert_allclose(observed, target, atol=0.03)


@pytest.mark.parametrize("name", ["balanced", "sqrt", "progressive"])
def test_registered_samplers_draw_one_epoch_reproducibly_and_feed_a_dataloader(name: str) -> None:
    first = create_sampler(name, LABELS, seed=3, total_epochs=10)
    assert name in SAMPLERS and len(first) == len(LABELS)
    assert list(first) == list(create_sampler(name, LABELS, seed=3, total_epochs=10))
    dataset = TensorDataset(torch.arange(len(LABELS)))
    batches = list(DataLoader(dataset, batch_size=16, sampler=create_sampler(name, LABELS, seed=3, total_epochs=10)))
    assert sum(len(batch[0]) for batch in batches) == len(LABELS)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: create_sampler("balance", LABELS), "unknown sampler 'balance'; choose one of: balanced, progressive"),
        (lambda: create_sampler("sqrt", LABELS, replacement=False), "sampler 'sqrt' does not take 'replacement'"),
        (lambda: create_sampler("progressive", LABELS), "sampler 'progressive' needs total_epochs"),
        (lambda: ProgressiveSampler(LABELS, total_epochs=0), "total_epochs must be >= 1"),
        (lambda: ProgressiveSampler(LABELS, total_epochs=3).set_epoch(-1), "epoch must be >= 0"),
        (lambda: balanced_sampler([0, -1, 1]), r"class index \(>= 0\) of every training image"),
        (lambda: sqrt_sampler([]), "at least one image"),
    ],
)
def test_bad_arguments_raise_one_line(build, match: str) -> None:
    with pytest.raises((ValueError, KeyError), match=match) as info:
        build()
    assert "\n" not in str(info.value)


def test_config_accepts_registered_samplers_and_lists_them_for_an_unknown_one() -> None:
    assert config.load(None, ["data.sampler=sqrt"]).data.sampler == "sqrt"
    assert config.load(None, []).data.sampler is None
    with pytest.raises(ConfigError, match=r"data\.sampler: unknown sampler 'sqr'; choose one of: balanced, progr"):
        config.load(None, ["data.sampler=sqr"])
