"""dermkit.models.features: named stages of a dermkit model (timm stages, last map, pooled vector, logits)."""

from __future__ import annotations

import pytest
import torch

from dermkit.errors import ConfigError
from dermkit.models import create_model
from dermkit.models.features import FeatureExtractor, extract_features, feature_stages


@pytest.fixture(scope="module")
def resnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("test_resnet", 3).eval()


def test_feature_stages_of_resnet50_by_name_without_building_weights() -> None:
    assert feature_stages("resnet50") == [
        "act1",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "last_map",
        "avg_pool",
        "logits",
    ]


def test_features_have_the_right_shapes_and_logits_equal_the_model(resnet: torch.nn.Module) -> None:
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        features = extract_features(resnet, x, ["logits", "layer2", "last_map", "avg_pool"])
        logits = resnet(x)
    assert list(features) == ["logits", "layer2", "last_map", "avg_pool"]  # the order asked
    assert features["layer2"].shape == (2, 48, 8, 8)  # test_resnet: 48 channels at stride 8
    assert features["last_map"].shape == (2, 96, 2, 2)  # stride 32
    assert features["avg_pool"].shape == (2, resnet.backbone.num_features)
    torch.testing.assert_close(features["logits"], logits)


def test_mobilenet_like_last_map_is_the_head_conv_not_the_last_block() -> None:
    # an EfficientNet/MobileNetV2 backbone ends in a 1x1 conv_head after its last block: last_map is that map
    # (MobileNetV2's 1280-channel feats_7x7 in the D-KD paper), pooled to num_features
    model = create_model("test_efficientnet", 4).eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        features = extract_features(model, x, ["blocks.4", "last_map", "avg_pool", "logits"])
        logits = model(x)
    assert features["last_map"].shape[1] == model.backbone.num_features != features["blocks.4"].shape[1]
    assert features["avg_pool"].shape == (2, model.backbone.num_features)
    torch.testing.assert_close(features["logits"], logits)


def test_extracted_features_carry_gradients_to_the_backbone() -> None:
    model = create_model("test_resnet", 3)
    features = extract_features(model, torch.randn(2, 3, 32, 32), ["layer1", "avg_pool"])
    (features["layer1"].mean() + features["avg_pool"].mean()).backward()
    assert model.backbone.conv1[0].weight.grad is not None
    assert model.head[-1].weight.grad is None  # the head was not used for these stages


def test_feature_extractor_module_equals_function(resnet: torch.nn.Module) -> None:
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    extractor = FeatureExtractor(resnet, ["layer3", "avg_pool"])
    with torch.no_grad():
        got, expected = extractor(x), extract_features(resnet, x, ["layer3", "avg_pool"])
    assert list(got) == ["layer3", "avg_pool"]
    for key in expected:
        torch.testing.assert_close(got[key], expected[key])


def test_unknown_stage_is_one_line_listing_the_valid_ones(resnet: torch.nn.Module) -> None:
    with pytest.raises(
        ValueError, match=r"unknown feature stage 'feats_7x7' for model 'test_resnet'; valid: act1, layer1"
    ):
        FeatureExtractor(resnet, ["avg_pool", "feats_7x7"])
    with pytest.raises(ConfigError, match="last_map, avg_pool, logits") as info:
        extract_features(resnet, torch.zeros(1, 3, 32, 32), ["layer9"])
    assert "\n" not in str(info.value)


def test_unknown_model_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown model 'resnet5000'"):
        feature_stages("resnet5000")
