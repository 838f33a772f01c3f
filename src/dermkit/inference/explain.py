"""Grad-CAM and Grad-CAM++ heat maps of a dermkit model, drawn back onto the image the user gave.

Methods (both through pytorch-grad-cam):

* Grad-CAM: Selvaraju, Cogswell, Das, Vedantam, Parikh and Batra, "Grad-CAM: Visual Explanations from Deep Networks
  via Gradient-based Localization", ICCV 2017. Channel weights are the spatially averaged gradients of the target
  score with respect to a convolutional feature map.
* Grad-CAM++: Chattopadhay, Sarkar, Howlader and Balasubramanian, "Grad-CAM++: Generalized Gradient-Based Visual
  Explanations for Deep Convolutional Networks", WACV 2018. Weights from higher-order gradient terms, which
  localises several instances of a class better.

The explainer runs its own copy of the network (hooks and gradients never touch the predictor's model, so a
server can predict and explain at the same time) and holds a lock: one explanation at a time per explainer.

Example:
    >>> explainer = Explainer.from_checkpoint("runs/demo")
    >>> result = explainer.explain("lesion.jpg")
    >>> result.heatmap.shape == result.overlay.shape[:2]  # the original image's geometry
    True
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget, ClassifierOutputTarget
from torch import nn

from dermkit.data.decode import load_image
from dermkit.errors import ConfigError, DermkitError
from dermkit.inference.predictor import ImageInput, Prediction, Predictor
from dermkit.registry import Registry

CAM_METHODS: Registry[type] = Registry("explanation method")
CAM_METHODS.register("gradcam", GradCAM)
CAM_METHODS.register("gradcam++", GradCAMPlusPlus)


class ExplainUnavailableError(DermkitError):
    """The predictor has no PyTorch network to take gradients of (e.g. an ONNX model)."""


@dataclass(frozen=True)
class Explanation:
    """One image's explanation, in the original image's geometry (or scaled down to ``max_side``).

    Attributes:
        heatmap: (H, W) float32 map in [0, 1]; 0 where the network never looked (cropped away).
        overlay: (H, W, 3) uint8 RGB image with the map blended over it (jet colour map).
        class_name: the class the map explains.
        class_index: its index in the model's class names.
        method: ``gradcam`` or ``gradcam++``.
        layer: the target layer, named inside the timm backbone.
        prediction: the model's prediction for the image (the stored decision rule applied).
    """

    heatmap: np.ndarray
    overlay: np.ndarray
    class_name: str
    class_index: int
    method: str
    layer: str
    prediction: Prediction


def _feature_info_names(backbone: nn.Module) -> list[str]:
    info = getattr(backbone, "feature_info", None) or []
    return [entry["module"] for entry in info if isinstance(entry, dict) and "module" in entry]


def _layer_hint(backbone: nn.Module) -> str:
    names = _feature_info_names(backbone)[::-1] or [name for name, _ in backbone.named_children()][::-1]
    return ", ".join(names[:5])


def _probe(backbone: nn.Module, image_size: int) -> tuple[torch.Tensor, list[tuple[str, Any]]]:
    """Run ``forward_features`` once; return its output and every module's output in the order modules finish."""
    finished: list[tuple[str, Any]] = []
    handles = [
        module.register_forward_hook(lambda _m, _i, out, name=name: finished.append((name, out)))
        for name, module in backbone.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            device = next(backbone.parameters()).device
            features = backbone.forward_features(torch.zeros(1, 3, image_size, image_size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return features, finished


def find_target_layer(backbone: nn.Module, image_size: int, name: str | None = None) -> str:
    """The layer Grad-CAM hooks: ``name`` if given, else the module that produces ``forward_features``' output.

    For timm CNNs the automatic choice is the last convolutional stage (``layer4`` of a ResNet, ``stages.3`` of a
    ConvNeXt, ``bn2`` after a MobileNet's last 1x1 conv): the module whose output is the final feature map, named as
    in timm's ``feature_info`` when it lists it (else the outermost such module other than an identity); the last
    ``feature_info`` module is the fallback.

    Args:
        backbone: a timm model (``Classifier.backbone``).
        image_size: the network's input side, for one probe forward pass.
        name: a module name inside the backbone (``layer4``; a leading ``backbone.`` is accepted).

    Returns:
        The module name, inside ``backbone``.

    Raises:
        ConfigError: an unknown name, or a layer (named or found) whose output is not a 4-D feature map.
    """
    modules = dict(backbone.named_modules())
    if name is not None:
        name = name.removeprefix("backbone.")
        if not name or name not in modules:
            raise ConfigError(f"unknown layer '{name}'; valid layers include: {_layer_hint(backbone)}")
    features, finished = _probe(backbone, image_size)
    if name is None:
        own = [n for n, out in finished if out is features and not isinstance(modules[n], nn.Identity)]
        info = _feature_info_names(backbone)
        named = [n for n in info if n in own]  # timm's own name for the stage, when it is the one (stages.3)
        name = (named or own or info[-1:] or [None])[-1]
        if name is None:
            raise ConfigError(f"cannot choose a Grad-CAM layer automatically; name one: {_layer_hint(backbone)}")
    outputs = [out for n, out in finished if n == name]
    if not outputs or not isinstance(outputs[-1], torch.Tensor) or outputs[-1].ndim != 4:
        shape = tuple(outputs[-1].shape) if outputs and isinstance(outputs[-1], torch.Tensor) else None
        raise ConfigError(
            f"layer '{name}' gives {shape or 'no tensor'}, not a 4-D (N, C, h, w) feature map; Grad-CAM needs a "
            f"convolutional layer, e.g.: {_layer_hint(backbone)}"
        )
    return name


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] heat map (jet colour map) over an RGB uint8 image of the same height and width.

    Shape:
        image: (H, W, 3) uint8. heatmap: (H, W). Returns (H, W, 3) uint8.
    """
    return show_cam_on_image(image.astype(np.float32) / 255.0, heatmap, use_rgb=True, image_weight=image_weight)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 image."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("OpenCV could not encode the image as PNG")
    return encoded.tobytes()


def _scaled(image: np.ndarray, max_side: int | None) -> np.ndarray:
    height, width = image.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class _FirstOutput(nn.Module):
    """A network's first output: the class logits of a model with several heads (a tuple of outputs)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out[0] if isinstance(out, tuple) else out


class Explainer:
    """Grad-CAM / Grad-CAM++ for a PyTorch :class:`Predictor` (a timm backbone plus a head).

    Args:
        predictor: the model to explain; its network is copied, its preprocessing and decision rule are used. A
            network with several outputs (a tuple) is explained through its first one, the class logits.
        method: the default method, ``gradcam`` or ``gradcam++``.
        layer: the target layer inside the backbone (e.g. ``layer4``); None chooses the last convolutional stage.

    Raises:
        ExplainUnavailableError: the predictor has no PyTorch network (``predictor.model``).
        ConfigError: an unknown layer, or one without a 4-D feature map.
        RegistryError: an unknown method.
    """

    def __init__(self, predictor: Predictor, *, method: str = "gradcam", layer: str | None = None) -> None:
        model = getattr(predictor, "model", None)
        if not isinstance(model, nn.Module) or not isinstance(getattr(model, "backbone", None), nn.Module):
            raise ExplainUnavailableError(
                "explain needs the PyTorch model folder (model.json + model.safetensors); this predictor has no network"
            )
        CAM_METHODS.get(method)
        self.predictor = predictor
        self.model = copy.deepcopy(model).eval()  # hooks and gradients stay off the predictor's network
        self._scored = _FirstOutput(self.model)
        self.method = method
        self.layer = find_target_layer(self.model.backbone, predictor.preprocess.image_size, layer)
        self._target_module = dict(self.model.backbone.named_modules())[self.layer]
        self._lock = threading.Lock()

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str = "cpu", **kwargs: Any) -> Explainer:
        """Load a model folder (or its ``model.json``); ``kwargs`` go to the constructor."""
        return cls(Predictor.from_checkpoint(path, device=device), **kwargs)

    def class_index(self, class_name: str | None) -> int | None:
        """The index of ``class_name`` (None stays None: explain the predicted class)."""
        names = self.predictor.class_names
        if class_name is None:
            return None
        if class_name not in names:
            raise ConfigError(f"unknown class '{class_name}'; choose one of: {', '.join(names)}")
        return names.index(class_name)

    def target(self, index: int) -> Any:
        """The score Grad-CAM differentiates: class ``index``'s logit; with one sigmoid logit, it or its negation."""
        spec = self.predictor.spec
        if spec.output == "sigmoid" and spec.architecture.num_outputs == 1:
            return BinaryClassifierOutputTarget(index)  # class 1: the logit; class 0: the negated logit
        return ClassifierOutputTarget(index)

    def cam(self, inputs: np.ndarray, index: int, method: str | None = None) -> np.ndarray:
        """The [0, 1] map over the network input for class ``index``.

        Shape:
            inputs: (3, S, S) preprocessed image. Returns (S, S) float32.
        """
        cam_class = CAM_METHODS.get(method or self.method)
        tensor = torch.as_tensor(inputs, dtype=torch.float32, device=self.predictor.device)[None]
        with self._lock, torch.enable_grad():
            cam = cam_class(model=self._scored, target_layers=[self._target_module])
            try:
                maps = cam(input_tensor=tensor, targets=[self.target(index)])
            finally:
                cam.activations_and_grads.release()
        return np.asarray(maps[0], dtype=np.float32)

    def explain(
        self,
        image: ImageInput,
        *,
        class_name: str | None = None,
        method: str | None = None,
        max_side: int | None = None,
        name: str | None = None,
    ) -> Explanation:
        """Explain one image: the prediction and the heat map of ``class_name`` (default: the predicted class).

        Args:
            image: a path, encoded bytes, a PIL image or an RGB array (decoded at full resolution).
            class_name: the class to explain; None explains the predicted class.
            method: ``gradcam`` or ``gradcam++`` (default: the explainer's).
            max_side: scale the output down so its longer side is at most this (the geometry stays the original's).
            name: what errors call the image.

        Raises:
            ImageLoadError: the image cannot be decoded (one line).
            ConfigError: an unknown class.
            RegistryError: an unknown method.
        """
        index = self.class_index(class_name)
        method = method or self.method
        CAM_METHODS.get(method)
        rgb = load_image(image, name=name)
        prediction = self.predictor.predict(rgb)
        index = prediction.index if index is None else index
        small = self.cam(self.predictor.preprocess(rgb), index, method)
        shown = _scaled(rgb, max_side)
        heatmap = self.predictor.preprocess.to_original(small, *shown.shape[:2])
        return Explanation(
            heatmap=heatmap,
            overlay=overlay_heatmap(shown, heatmap),
            class_name=self.predictor.class_names[index],
            class_index=index,
            method=method,
            layer=self.layer,
            prediction=prediction,
        )
