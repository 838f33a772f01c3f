"""dermkit.inference.explain on randomly initialised timm test models: layer choice, targets, geometry, isolation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dermkit.data.preprocess import Preprocess
from dermkit.errors import ConfigError
from dermkit.inference.explain import Explainer, ExplainUnavailableError, find_target_layer
from dermkit.inference.predictor import Predictor
from dermkit.models.artifact import Architecture, ModelSpec
from dermkit.models.factory import create_model
from dermkit.registry import RegistryError


def _predictor(name: str = "test_resnet", outputs: int = 2, output: str = "softmax", **preprocess: object) -> Predictor:
    torch.manual_seed(0)
    spec = ModelSpec(
        architecture=Architecture(name=name, num_outputs=outputs),
        output=output,
        class_names=["benign", "malignant"],
        preprocessing=Preprocess(**{"image_size": 48, "resize": 56, **preprocess}).to_dict(),
    )
    return Predictor(create_model(name, outputs), spec)


@pytest.fixture(scope="module")
def explainer() -> Explainer:
    return Explainer(_predictor())


@pytest.mark.parametrize(
    ("name", "layer"), [("test_resnet", "layer4"), ("test_convnext", "stages.3"), ("test_efficientnet", "bn2")]
)
def test_automatic_layer_is_the_last_convolutional_stage(name: str, layer: str) -> None:
    assert find_target_layer(create_model(name, 2).backbone, 48) == layer


def test_named_layer_is_accepted_with_or_without_the_backbone_prefix() -> None:
    backbone = create_model("test_resnet", 2).backbone
    assert find_target_layer(backbone, 48, "layer3") == "layer3"
    assert find_target_layer(backbone, 48, "backbone.layer2") == "layer2"


def test_unknown_layer_is_one_line_listing_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        Explainer(_predictor(), layer="layer9")
    message = str(info.value)
    assert "unknown layer 'layer9'" in message and "layer4" in message and "layer3" in message and "\n" not in message


def test_layer_without_a_feature_map_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a 4-D"):
        find_target_layer(create_model("test_resnet", 2).backbone, 48, "fc")


def test_targets_use_the_class_logit_and_the_negated_single_sigmoid_logit() -> None:
    softmax = Explainer(_predictor())
    assert float(softmax.target(1)(torch.tensor([1.0, 3.0]))) == 3.0
    assert float(softmax.target(0)(torch.tensor([1.0, 3.0]))) == 1.0
    sigmoid = Explainer(_predictor(outputs=1, output="sigmoid"))
    assert float(sigmoid.target(1)(torch.tensor([2.5]))) == 2.5
    assert float(sigmoid.target(0)(torch.tensor([2.5]))) == -2.5


def test_map_is_in_the_original_geometry_with_cropped_areas_zero(explainer: Explainer) -> None:
    # 60 x 120 -> shorter side 56: 56 x 112; the 48-px crop keeps original columns ~34..86 only.
    image = np.random.default_rng(0).integers(0, 256, (60, 120, 3), dtype=np.uint8)
    result = explainer.explain(image)
    assert result.heatmap.shape == (60, 120) and result.heatmap.dtype == np.float32
    assert result.overlay.shape == (60, 120, 3) and result.overlay.dtype == np.uint8
    assert result.heatmap.min() >= 0 and result.heatmap.max() <= 1 and result.heatmap.max() > 0.5
    assert (result.heatmap[:, :32] == 0).all() and (result.heatmap[:, 89:] == 0).all()
    assert result.class_name == result.prediction.label and result.layer == "layer4" and result.method == "gradcam"


def test_explain_a_named_class_and_gradcam_plus_plus(explainer: Explainer) -> None:
    image = np.random.default_rng(1).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    result = explainer.explain(image, class_name="benign", method="gradcam++")
    assert (result.class_name, result.class_index, result.method) == ("benign", 0, "gradcam++")


def test_max_side_scales_the_output_down_keeping_its_shape(explainer: Explainer) -> None:
    image = np.random.default_rng(2).integers(0, 256, (200, 400, 3), dtype=np.uint8)
    result = explainer.explain(image, max_side=100)
    assert result.heatmap.shape == (50, 100) and result.overlay.shape == (50, 100, 3)


def test_unknown_class_or_method_is_a_clear_error(explainer: Explainer) -> None:
    image = np.zeros((48, 48, 3), np.uint8)
    with pytest.raises(ConfigError, match="unknown class 'nevus'; choose one of: benign, malignant"):
        explainer.explain(image, class_name="nevus")
    with pytest.raises(RegistryError, match="unknown explanation method 'lime'"):
        explainer.explain(image, method="lime")


def test_explaining_leaves_the_predictor_network_untouched() -> None:
    predictor = _predictor()
    image = np.random.default_rng(3).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    before = predictor.predict(image).probabilities
    Explainer(predictor).explain(image)
    assert all(not module._forward_hooks for module in predictor.model.modules())
    assert all(parameter.grad is None for parameter in predictor.model.parameters())
    assert predictor.predict(image).probabilities == before


def test_a_predictor_without_a_pytorch_network_cannot_explain() -> None:
    class Torchless:
        spec = _predictor().spec

    with pytest.raises(ExplainUnavailableError, match="needs the PyTorch model folder"):
        Explainer(Torchless())  # type: ignore[arg-type]


class _TwoHeads(torch.nn.Module):
    """A network with two outputs, the class logits first (as a multi-head task's)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.backbone, self.single = model.backbone, model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.single(x)
        return logits, logits.sum(1, keepdim=True) * 0


def test_a_network_with_several_outputs_is_explained_through_its_first() -> None:
    single = _predictor()
    inputs = single.preprocess(np.random.default_rng(4).integers(0, 256, (48, 48, 3), dtype=np.uint8))
    two = Predictor(_TwoHeads(single.model), single.spec)
    np.testing.assert_allclose(Explainer(two).cam(inputs, 1), Explainer(single).cam(inputs, 1), atol=1e-6)
