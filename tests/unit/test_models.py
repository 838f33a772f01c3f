"""dermkit.models: heads, backbones by timm name, ``create_model`` and local pretrained weight files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file
from torch import nn

from dermkit.errors import ConfigError, ModelFileError
from dermkit.models import HEADS, Classifier, create_backbone, create_head, create_model
from dermkit.models.heads import init_head
from dermkit.registry import RegistryError

TINY = "test_resnet"


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("head", ["linear", "mlp"])
@pytest.mark.parametrize("outputs", [1, 2, 5])
def test_create_model_output_shape_is_batch_by_num_outputs(head: str, outputs: int, batch: torch.Tensor) -> None:
    model = create_model(TINY, outputs, head=head, head_hidden=16).eval()
    with torch.no_grad():
        assert model(batch).shape == (2, outputs)


def test_create_model_returns_classifier_in_train_mode_with_headless_backbone() -> None:
    model = create_model(TINY, 3)
    assert isinstance(model, Classifier)
    assert model.training
    assert model.backbone.num_classes == 0
    assert linear_layers(model.head)[-1].in_features == model.backbone.num_features


def test_forward_features_and_pool_shapes(batch: torch.Tensor) -> None:
    model = create_model(TINY, 3).eval()
    with torch.no_grad():
        features = model.forward_features(batch)
        pooled = model.pool(features)
        logits = model(batch)
    assert features.ndim == 4 and features.shape[:2] == (2, model.backbone.num_features)
    assert pooled.shape == (2, model.backbone.num_features)
    torch.testing.assert_close(model.head(pooled), logits)


@pytest.mark.parametrize("features_slope", [None, 0.1])
def test_head_is_as_wide_as_the_feature_after_the_models_own_post_pooling_layers(features_slope, batch) -> None:
    """MobileNetV3 pools 288 channels (``num_features``) into a 1x1 conv head of 1024: its classifier sees 1024."""
    model = create_model("mobilenetv3_small_050", 3, features_slope=features_slope).eval()
    with torch.no_grad():
        out = model(batch)
    logits, features = out if features_slope is not None else (out, model.pool(model.forward_features(batch)))
    assert logits.shape == (2, 3) and features.shape == (2, 1024)
    assert model.backbone.num_features == 288 and linear_layers(model.head)[-1].in_features == 1024


def test_mlp_head_has_hidden_width_and_dropout() -> None:
    head = create_head("mlp", 64, 2, hidden=32, drop_rate=0.4)
    first, last = linear_layers(head)
    assert (first.in_features, first.out_features) == (64, 32)
    assert (last.in_features, last.out_features) == (32, 2)
    assert [m.p for m in head.modules() if isinstance(m, nn.Dropout)] == [0.4]


def test_linear_head_adds_dropout_only_when_drop_rate_positive() -> None:
    assert not any(isinstance(m, nn.Dropout) for m in create_head("linear", 8, 2).modules())
    assert [m.p for m in create_head("linear", 8, 2, drop_rate=0.3).modules() if isinstance(m, nn.Dropout)] == [0.3]


def test_xavier_init_gives_zero_bias_and_glorot_std() -> None:
    torch.manual_seed(0)
    fan_in, fan_out = 512, 256
    (layer,) = linear_layers(create_head("linear", fan_in, fan_out, init="xavier"))
    assert torch.count_nonzero(layer.bias) == 0
    expected = math.sqrt(2.0 / (fan_in + fan_out))
    assert layer.weight.std().item() == pytest.approx(expected, rel=0.03)
    assert layer.weight.mean().item() == pytest.approx(0.0, abs=expected * 0.02)


def test_create_model_uses_xavier_head_init_by_default() -> None:
    torch.manual_seed(0)
    model = create_model(TINY, 1)
    (layer,) = linear_layers(model.head)
    assert torch.count_nonzero(layer.bias) == 0
    expected = math.sqrt(2.0 / (model.backbone.num_features + 1))
    assert layer.weight.std().item() == pytest.approx(expected, rel=0.25)


def test_normal_init_has_std_one_thousandth_and_zero_bias() -> None:
    torch.manual_seed(0)
    head = create_head("mlp", 256, 128, hidden=256, init="normal")
    for layer in linear_layers(head):
        assert torch.count_nonzero(layer.bias) == 0
        assert layer.weight.std().item() == pytest.approx(0.001, rel=0.05)


def test_default_init_keeps_pytorch_init_with_nonzero_bias() -> None:
    torch.manual_seed(0)
    (layer,) = linear_layers(create_head("linear", 64, 8, init="default"))
    assert torch.count_nonzero(layer.bias) > 0
    bound = 1 / math.sqrt(64)
    assert layer.weight.abs().max().item() <= bound


def test_unknown_head_init_raises_listing_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown head_init 'he'.*xavier, normal, default"):
        init_head(nn.Linear(2, 2), "he")


def test_unknown_head_lists_registered_heads() -> None:
    with pytest.raises(RegistryError, match=r"unknown head 'conv'.*linear, mlp"):
        create_model(TINY, 2, head="conv")
    assert {"linear", "mlp"} <= set(HEADS.names())


def test_drop_rate_reaches_the_head() -> None:
    model = create_model(TINY, 2, drop_rate=0.25)
    assert [m.p for m in model.head.modules() if isinstance(m, nn.Dropout)] == [0.25]


def test_timm_kwargs_pass_through_and_none_values_are_ignored() -> None:
    model = create_model("test_efficientnet", 2, drop_path_rate=0.1, global_pool=None)
    rates = [m.drop_prob for m in model.backbone.modules() if type(m).__name__ == "DropPath"]
    assert rates and max(rates) > 0


# --- pretrained weights ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(123)
    return timm.create_model(TINY, pretrained=False).state_dict()


def assert_backbone_equals(model: Classifier, state: dict[str, torch.Tensor]) -> None:
    backbone_state = model.backbone.state_dict()
    assert backbone_state, "empty backbone"
    for key, value in backbone_state.items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0, msg=key)


def test_pretrained_file_torch_save_loads_backbone_weights(
    tmp_path: Path, reference_state: dict[str, torch.Tensor]
) -> None:
    path = tmp_path / "weights.pth"
    torch.save(reference_state, path)
    model = create_model(TINY, 2, pretrained_file=path)
    assert_backbone_equals(model, reference_state)
    assert linear_layers(model.head)[-1].out_features == 2


def test_pretrained_file_safetensors_loads_backbone_weights(
    tmp_path: Path, reference_state: dict[str, torch.Tensor]
) -> None:
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in reference_state.items()}, str(path))
    model = create_model(TINY, 5, pretrained_file=str(path))
    assert_backbone_equals(model, reference_state)


def test_random_init_differs_from_saved_weights(reference_state: dict[str, torch.Tensor]) -> None:
    torch.manual_seed(999)
    model = create_model(TINY, 2)
    key = next(k for k in model.backbone.state_dict() if k.endswith("weight"))
    assert not torch.equal(model.backbone.state_dict()[key], reference_state[key])


def test_missing_pretrained_file_raises_model_file_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(ModelFileError, match=r"nope\.pth.*not found.*model\.pretrained_file"):
        create_model(TINY, 2, pretrained_file=missing)


def test_pretrained_file_of_another_architecture_raises_model_file_error(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save(timm.create_model("test_efficientnet").state_dict(), path)
    with pytest.raises(ModelFileError, match="do not fit 'test_resnet'"):
        create_model(TINY, 2, pretrained_file=path)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_garbage_pretrained_file_raises_model_file_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(b"not a weight file" * 4)
    with pytest.raises(ModelFileError, match=path.name):
        create_model(TINY, 2, pretrained_file=path)


@pytest.mark.parametrize("name", ["resnet18", TINY])
def test_cifar_stem_keeps_4x_more_resolution_and_drops_the_max_pool(name: str) -> None:
    x = torch.zeros(1, 3, 28, 28)
    default = create_model(name, 2).eval()
    cifar = create_model(name, 2, stem="cifar").eval()
    with torch.no_grad():
        assert default.forward_features(x).shape[-1] == 1
        assert cifar.forward_features(x).shape[-1] == 4
    assert isinstance(cifar.backbone.maxpool, nn.Identity)
    first_conv = next(m for m in cifar.backbone.conv1.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.stride == (1, 1) and first_conv.kernel_size == (3, 3)


def test_cifar_stem_on_a_network_without_resnet_stem_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="stem=cifar needs a ResNet-style backbone"):
        create_model("mobilenetv2_100", 2, stem="cifar")


def test_unknown_stem_raises_config_error_listing_choices() -> None:
    with pytest.raises(ConfigError, match="default, cifar"):
        create_model(TINY, 2, stem="tiny")


def test_unknown_model_name_raises_config_error_mentioning_timm_and_similar_names() -> None:
    with pytest.raises(ConfigError, match="unknown model 'resnet18x'") as info:
        create_backbone("resnet18x")
    message = str(info.value)
    assert "timm" in message
    similar = message.split("similar:")[1]
    assert "resnet18" in similar.split(", ")[0]


def test_unknown_model_name_with_typo_suggests_the_intended_model() -> None:
    with pytest.raises(ConfigError, match=r"similar: .*\bmobilenetv2_100\b"):
        create_model("mobilenetv2", 2)


def test_hub_failure_raises_model_file_error_pointing_to_pretrained_file(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def offline(name: str, pretrained: bool = False, **kwargs: object) -> nn.Module:
        calls.append(pretrained)
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(ModelFileError, match=r"model\.pretrained_file") as info:
        create_model(TINY, 2, pretrained=True)
    assert calls == [True]
    assert "\n" not in str(info.value)
    assert "test_resnet" in str(info.value)


def test_a_dermkit_model_file_fine_tunes_from_its_backbone(tmp_path: Path) -> None:
    from dermkit.models.artifact import WEIGHTS_FILE

    source = create_model(TINY, 3)  # a trained dermkit model: keys "backbone.*" and "head.*"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / WEIGHTS_FILE))
    model = create_model(TINY, 2, pretrained_file=tmp_path / WEIGHTS_FILE)
    assert_backbone_equals(model, source.backbone.state_dict())


def test_checkpoint_nesting_and_ddp_prefix_are_unwrapped(tmp_path: Path, reference_state) -> None:
    path = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in reference_state.items()}}, path)
    assert_backbone_equals(create_model(TINY, 2, pretrained_file=path), reference_state)


@pytest.mark.parametrize(
    ("content", "match"),
    [({"a": torch.zeros(1)}, "backbone tensors missing"), ([1, 2], "no named weight")],
)
def test_a_file_that_fits_no_or_part_of_the_backbone_is_an_error(tmp_path: Path, content, match: str) -> None:
    path = tmp_path / "unrelated.pth"
    torch.save(content, path)
    with pytest.raises(ModelFileError, match=match):
        create_model(TINY, 2, pretrained_file=path)


def test_partial_weights_name_a_missing_tensor(tmp_path: Path, reference_state) -> None:
    path = tmp_path / "partial.pth"
    torch.save({k: v for k, v in reference_state.items() if not k.startswith("layer4")}, path)
    with pytest.raises(ModelFileError, match=r"partial\.pth: weights do not fit 'test_resnet': \d+ of \d+ .*layer4"):
        create_model(TINY, 2, pretrained_file=path)


def test_a_lightning_checkpoint_of_a_dermkit_run_fine_tunes(tmp_path: Path, reference_state) -> None:
    path = tmp_path / "best.ckpt"
    state = {f"task.model.backbone.{k}": v for k, v in reference_state.items()}
    torch.save({"epoch": 4, "state_dict": {**state, "task.model.head.fc.weight": torch.zeros(2, 8)}}, path)
    assert_backbone_equals(create_model(TINY, 2, pretrained_file=path), reference_state)


def test_cifar_stem_fine_tunes_from_a_cifar_stem_model_and_keeps_a_fresh_conv_for_imagenet_weights(
    tmp_path: Path, caplog
) -> None:
    from dermkit.models.artifact import WEIGHTS_FILE

    source = create_model("resnet18", 2, stem="cifar")
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / WEIGHTS_FILE))
    same_stem = create_model("resnet18", 2, stem="cifar", pretrained_file=tmp_path / WEIGHTS_FILE)
    assert_backbone_equals(same_stem, source.backbone.state_dict())

    imagenet_like = timm.create_model("resnet18", num_classes=0).state_dict()  # a 7x7 conv1
    torch.save(imagenet_like, tmp_path / "imagenet.pth")
    model = create_model("resnet18", 2, stem="cifar", pretrained_file=tmp_path / "imagenet.pth")
    assert model.backbone.conv1.weight.shape[-1] == 3 and "conv1.weight keep their fresh initialisation" in caplog.text
    torch.testing.assert_close(model.backbone.layer1[0].conv1.weight, imagenet_like["layer1.0.conv1.weight"])
