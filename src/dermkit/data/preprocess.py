"""Evaluation preprocessing, defined once and stored in every model (numpy + OpenCV only, no torch).

The same :class:`Preprocess` runs in validation during training, in ``evaluate``, ``predict``, the REST server and
in front of an ONNX model, so a model never sees images prepared differently from how it was validated. Training
augmentation (``data.transforms``) starts from the same :meth:`Preprocess.resize` output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import cv2
import numpy as np

RESIZE_MODES = ("shorter", "square", "pad_square")


@dataclass(frozen=True)
class Preprocess:
    """Resize, centre-crop and normalise an RGB uint8 image into a float32 CHW array.

    Args:
        image_size: side of the square network input.
        resize: the size images are resized to before the crop.
        resize_mode: ``shorter`` scales the shorter side to ``resize`` (aspect kept, torchvision-style);
            ``square`` stretches to ``resize`` x ``resize`` (the LDL/SPBL recipes); ``pad_square`` pads the image
            to a square with black, then resizes (the two-class project's letterbox).
        mean: per-channel mean of the 0..1 image.
        std: per-channel standard deviation of the 0..1 image.
    """

    image_size: int = 224
    resize: int = 256
    resize_mode: str = "shorter"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def __post_init__(self) -> None:
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"unknown resize_mode '{self.resize_mode}'; choose one of: {', '.join(RESIZE_MODES)}")
        if self.resize < self.image_size:
            raise ValueError(f"resize ({self.resize}) must be >= image_size ({self.image_size})")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    def _padding(self, height: int, width: int) -> tuple[int, int, int]:
        """``pad_square``'s square side and its top and left padding (no padding in the other modes)."""
        if self.resize_mode != "pad_square":
            return max(height, width), 0, 0
        side = max(height, width)
        return side, (side - height) // 2, (side - width) // 2

    def _resized_size(self, height: int, width: int) -> tuple[int, int]:
        """(width, height) after :meth:`resize_image` of an image of ``height`` x ``width`` (after any padding)."""
        if self.resize_mode == "shorter":
            scale = self.resize / min(height, width)
            return max(self.resize, round(width * scale)), max(self.resize, round(height * scale))
        return self.resize, self.resize

    def resize_image(self, image: np.ndarray) -> np.ndarray:
        """The first step shared by training and evaluation: bring ``image`` (H, W, 3 uint8) to the resize size."""
        height, width = image.shape[:2]
        if self.resize_mode == "pad_square":
            side, top, left = self._padding(height, width)
            image = cv2.copyMakeBorder(
                image, top, side - height - top, left, side - width - left, cv2.BORDER_CONSTANT, value=(0, 0, 0)
            )
            height = width = side
        size = self._resized_size(height, width)
        if size == (width, height):
            return image
        shrinking = size[0] * size[1] < width * height
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)

    def center_crop(self, image: np.ndarray) -> np.ndarray:
        """Crop the central ``image_size`` square."""
        height, width = image.shape[:2]
        top, left = (height - self.image_size) // 2, (width - self.image_size) // 2
        return image[top : top + self.image_size, left : left + self.image_size]

    def normalize(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) to normalised float32 (3, H, W)."""
        scale = np.float32(1.0 / 255.0)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        normalised = (image.astype(np.float32) * scale - mean) / std
        return np.ascontiguousarray(normalised.transpose(2, 0, 1))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Full evaluation preprocessing: resize, centre crop, normalise.

        Shape:
            image: (H, W, 3) uint8 RGB. Returns (3, image_size, image_size) float32.
        """
        return self.normalize(self.center_crop(self.resize_image(image)))

    def with_resize(self, resize: int) -> Preprocess:
        """The same preprocessing with another resize (training may resize larger before its random crop)."""
        return replace(self, resize=resize)

    def to_original(self, heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
        """Map a map in network-input coordinates back onto the original image (inverse resize, letterbox, crop).

        The map is placed where the centre crop was taken, the areas cropped away get 0, the result is resized
        (bilinear, the same pixel-centre convention as the forward resize) to the pre-resize geometry and, for
        ``pad_square``, the black padding is cut off again. Used to draw Grad-CAM maps on the image the user gave.

        Args:
            heatmap: a (image_size, image_size) map over the network input.
            height: the original image's height in pixels.
            width: the original image's width in pixels.

        Returns:
            A float32 (height, width) map.

        Shape:
            heatmap: (S, S) with S = ``image_size``. Returns (height, width).
        """
        heatmap = np.asarray(heatmap, dtype=np.float32)
        expected = (self.image_size, self.image_size)
        if heatmap.shape != expected:
            raise ValueError(f"heatmap shape {heatmap.shape} is not the network input's {expected}")
        if height < 1 or width < 1:
            raise ValueError(f"original size must be positive, got {height} x {width}")
        side, top, left = self._padding(height, width)
        before = (side, side) if self.resize_mode == "pad_square" else (width, height)  # (width, height) pre-resize
        resized_w, resized_h = self._resized_size(before[1], before[0])
        canvas = np.zeros((resized_h, resized_w), np.float32)
        crop_top, crop_left = (resized_h - self.image_size) // 2, (resized_w - self.image_size) // 2
        canvas[crop_top : crop_top + self.image_size, crop_left : crop_left + self.image_size] = heatmap
        if (resized_w, resized_h) != before:
            canvas = cv2.resize(canvas, before, interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(canvas[top : top + height, left : left + width])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (what ``model.json`` stores under ``preprocessing``)."""
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        """Rebuild from :meth:`to_dict` output."""
        fields = ("image_size", "resize", "resize_mode", "mean", "std")
        return cls(
            **{key: (tuple(data[key]) if key in ("mean", "std") else data[key]) for key in fields if key in data}
        )
