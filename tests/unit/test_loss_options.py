"""The class-imbalance losses through ``create_loss`` and the config: registry, options, one-line errors."""

from __future__ import annotations

import pytest
import torch

from dermkit import config
from dermkit.engine.setup import build_components
from dermkit.errors import ConfigError
from dermkit.losses import LOSSES, FocalLoss, create_loss, effective_number_weights, focal_loss

COUNTS = [40, 12, 5, 1]
IMBALANCE_LOSSES = ["focal", "class_balanced", "logit_adjusted", "balanced_softmax", "ldam", "ghm_c"]


def make(name: str, **options: object) -> torch.nn.Module:
    return create_loss(name, len(COUNTS), class_counts=COUNTS, **options)


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 4


# --- registry and bad arguments -----------------------------------------------------------------------------------


def test_every_imbalance_loss_is_registered_and_wants_one_logit_per_class() -> None:
    logits, target = inputs()
    for name in IMBALANCE_LOSSES:
        assert name in LOSSES
        assert make(name)(logits, target).ndim == 0
        assert make(name).output == "softmax"


def test_ce_takes_effective_number_class_weights_with_beta() -> None:
    loss = create_loss("ce", 2, class_counts=[2, 1], class_weights="effective_number", beta=0.5)
    torch.testing.assert_close(loss.weight, torch.tensor([0.8, 1.2]))
    default = create_loss("ce", 2, class_counts=[2, 1], class_weights="effective_number")
    torch.testing.assert_close(default.weight, effective_number_weights([2, 1], 0.9999))


def test_class_balanced_base_focal_uses_gamma_and_effective_number_weights() -> None:
    loss = make("class_balanced", base="focal", gamma=1.5, beta=0.99)
    assert loss.gamma == 1.5
    torch.testing.assert_close(loss.weight, effective_number_weights(COUNTS, 0.99))
    assert make("class_balanced", base="focal").gamma == 2.0 and make("class_balanced").gamma == 0.0


def test_forward_changes_no_buffer() -> None:
    logits, target = inputs()
    for name in IMBALANCE_LOSSES:
        loss = make(name)
        before = {key: value.clone() for key, value in loss.state_dict().items()}
        loss(logits, target)
        assert all(torch.equal(before[key], value) for key, value in loss.state_dict().items()), name


def one_line_error(build, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        build()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: focal_loss(*inputs(), gamma=-1.0), "gamma must be >= 0"),
        (lambda: make("focal", gamma=-0.5), "gamma must be >= 0"),
        (lambda: make("class_balanced", base="focal", gamma=-1.0), "gamma must be >= 0"),
        (lambda: effective_number_weights(COUNTS, 1.0), r"beta must be in \[0, 1\)"),
        (lambda: make("class_balanced", beta=-0.1), r"beta must be in \[0, 1\)"),
        (lambda: make("ldam", beta=1.5), r"beta must be in \[0, 1\)"),
        (lambda: make("ce", class_weights="effective_number", beta=1.0), r"beta must be in \[0, 1\)"),
        (lambda: make("ce", beta=0.9), "beta is used only with class_weights=effective_number"),
        (lambda: make("focal", tau=1.0), "loss 'focal' does not take option 'tau'; its options: gamma"),
        (lambda: make("ce", gamma=2.0), "loss 'ce' does not take option 'gamma'"),
        (lambda: make("balanced_softmax", tau=2.0), "does not take option 'tau'; its options: none"),
        (lambda: make("class_balanced", gamma=2.0), "gamma is used only with base=focal"),
        (lambda: make("class_balanced", base="bce"), "unknown base 'bce'.*choose one of: ce, focal"),
        (lambda: make("focal", class_weights=[1.0, 2.0]), "class_weights has 2 values for 4 classes"),
        (lambda: make("ce", class_weights="inverse"), "unknown class_weights 'inverse'; choose one of: balanced"),
        (lambda: create_loss("ldam", 3, class_counts=COUNTS), "class_counts has 4 values for 3 classes"),
        (lambda: create_loss("logit_adjusted", 4), "loss 'logit_adjusted' needs class_counts"),
        (lambda: create_loss("balanced_softmax", 2, class_counts=[3, 0]), r"class_counts\[1\] is 0"),
        (lambda: make("ldam", max_m=0.0), "max_m must be > 0"),
        (lambda: make("ldam", s=-1.0), "s must be > 0"),
        (lambda: make("ldam", drw_epoch=-1), "drw_epoch must be >= 0"),
        (lambda: make("ghm_c", bins=0), "bins must be a positive integer"),
        (lambda: make("ghm_c", momentum=1.0), r"momentum must be in \[0, 1\)"),
        (lambda: focal_loss(torch.zeros(3, 1), torch.zeros(3)), r"expects logits \(N, C >= 2\)"),
        (lambda: FocalLoss(reduction="avg"), "unknown reduction 'avg'"),
    ],
)
def test_bad_arguments_raise_one_line_naming_the_key(build, match: str) -> None:
    one_line_error(build, match)


# --- config --------------------------------------------------------------------------------------------------------


def components(*overrides: str):
    cfg = config.load(None, ["model.name=test_resnet", *overrides])
    return build_components(cfg, ["a", "b", "c", "d"], COUNTS)


def test_config_options_reach_the_loss() -> None:
    cfg = config.load(None, ["loss.name=focal", "loss.gamma=2"])
    assert cfg.loss.name == "focal" and cfg.loss.gamma == 2.0
    assert components("loss.name=focal", "loss.gamma=3").loss.gamma == 3.0
    ldam = components("loss.name=ldam", "loss.max_m=0.4", "loss.s=16", "loss.drw_epoch=3").loss
    assert ldam.s == 16.0 and ldam.drw_epoch == 3 and float(ldam.margins.max()) == pytest.approx(0.4)
    balanced = components("loss.name=class_balanced", "loss.base=focal", "loss.beta=0.99").loss
    torch.testing.assert_close(balanced.weight, effective_number_weights(COUNTS, 0.99))
    assert components("loss.name=ghm_c", "loss.bins=5", "loss.momentum=0.75").loss.bin_density.shape == (5,)
    assert components("loss.class_weights=effective_number").loss.weight is not None


def test_config_refuses_an_option_the_loss_does_not_take_naming_it() -> None:
    with pytest.raises(ConfigError, match="loss 'ce' does not take option 'gamma'"):
        components("loss.gamma=2")
    with pytest.raises(ConfigError, match="gamma must be >= 0"):
        components("loss.name=focal", "loss.gamma=-1")


def test_config_refuses_unknown_loss_keys_and_wrong_types() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'loss.gama'; valid keys here: .*gamma"):
        config.load(None, ["loss.gama=2"])
    with pytest.raises(ConfigError, match=r"loss\.drw_epoch"):
        config.load(None, ["loss.drw_epoch=soon"])
    with pytest.raises(ConfigError, match=r"loss\.class_weights"):
        config.load(None, ["loss.class_weights=inverse"])
