"""Named training-augmentation presets (albumentations), one registry.

Every preset starts from the output of :meth:`Preprocess.resize_image` (so train and eval share the resize), ends
with a crop to ``image_size`` and normalisation, and returns float32 CHW like :class:`Preprocess`.

Presets:
    ``none``: centre crop only (what evaluation does).
    ``light``: random crop, the 8 dihedral flips/rotations (lesions have no up), mild brightness/contrast.
    ``flips``: random crop and the 8 dihedral flips/rotations only.
    ``skin_classifier``: the lesion_classifier project's recipe (meynmd/lesion_classifier): Affine scale 0.9-1.1,
        translate 5 %, rotate 180 degrees, shear 15 degrees (p=0.33), random crop, RGB shift 16 (p=0.1),
        brightness/contrast 0.1 (p=0.1).
    ``two_class``: the skin_disease_two_classification project's recipe: random crop, rotate 15 degrees, h-flip.
    ``acne04``: the LDL / LDS recipe (Wu et al. 2019; Prokhorov & Kalinin 2024): random crop, h-flip, rotate 20
        degrees (bilinear), after a square resize to ``data.train_resize`` (256).
    ``crop_hflip``: random crop and horizontal flip, the SPBL code's training augmentation.
    ``dkd``: the D-KD / SSD-KD teacher and student augmentation (Wang et al., Medical Image Analysis 84:102693, 2023;
        its imgaug pipeline in albumentations, see :func:`_dkd`).
    ``hflip``: a horizontal flip half the time, nothing else (SSD-KD's rotated-view training).
"""

from __future__ import annotations

from collections.abc import Callable

import albumentations as A
import cv2
import numpy as np
import torch.utils.data

from dermkit.registry import Registry

PresetFactory = Callable[[int], list[A.BasicTransform]]
PRESETS: Registry[PresetFactory] = Registry("transform preset")


@PRESETS.register("none")
def _none(size: int) -> list[A.BasicTransform]:
    return [A.CenterCrop(size, size)]


@PRESETS.register("light")
def _light(size: int) -> list[A.BasicTransform]:
    return [
        A.RandomCrop(size, size),
        A.D4(p=1.0),
        A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.5),
    ]


@PRESETS.register("flips")
def _flips(size: int) -> list[A.BasicTransform]:
    return [A.RandomCrop(size, size), A.D4(p=1.0)]


@PRESETS.register("skin_classifier")
def _skin_classifier(size: int) -> list[A.BasicTransform]:
    return [
        A.Affine(
            scale=(0.9, 1.1),
            translate_percent=(-0.05, 0.05),
            rotate=(-180, 180),
            shear=(-15, 15),
            interpolation=cv2.INTER_LINEAR,
            keep_ratio=True,
            p=0.33,
        ),
        A.RandomCrop(size, size),
        A.RGBShift(r_shift_limit=16, g_shift_limit=16, b_shift_limit=16, p=0.1),
        A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.1),
    ]


@PRESETS.register("two_class")
def _two_class(size: int) -> list[A.BasicTransform]:
    return [A.RandomCrop(size, size), A.Rotate(limit=15, border_mode=cv2.BORDER_CONSTANT, p=1.0), A.HorizontalFlip()]


@PRESETS.register("acne04")
def _acne04(size: int) -> list[A.BasicTransform]:
    return [
        A.RandomCrop(size, size),
        A.HorizontalFlip(),
        A.Rotate(limit=20, interpolation=cv2.INTER_LINEAR, border_mode=cv2.BORDER_CONSTANT, p=1.0),
    ]


@PRESETS.register("crop_hflip")
def _crop_hflip(size: int) -> list[A.BasicTransform]:
    return [A.RandomCrop(size, size), A.HorizontalFlip()]


@PRESETS.register("dkd")
def _dkd(size: int) -> list[A.BasicTransform]:
    """The D-KD recipe's imgaug pipeline (METHODS.md section 4) in albumentations terms.

    25 % scale 1-2x; h-flip 0.5; v-flip 0.2; 25 % rotate +-120 degrees with a mirrored border (imgaug's
    ``symmetric``); 25 % Gaussian blur sigma 0-1.5; 10 % one of pixel dropout (imgaug draws p in [0, 5 %]:
    PixelDropout takes one p, its mean 2.5 %) or coarse dropout (2 % of the cells of a grid at 25 % of the image
    size, so 4-px holes); 25 % one of an added brightness of +-15 (per channel half the time) or hue/saturation
    +-10. The approximate parts: imgaug scales each axis on its own and counts hue on another scale.
    """
    holes = max(1, round(0.02 * (size // 4) ** 2))  # 2 % of the cells of the grid at 25 % of the image size
    dropout = A.OneOf(
        [
            A.PixelDropout(dropout_prob=0.025, p=1.0),
            A.CoarseDropout((max(1, holes // 2), holes * 3 // 2 + 1), (4, 4), (4, 4), p=1.0),
        ],
        p=0.1,
    )
    add = A.OneOf([A.RGBShift(15, 15, 15, p=1.0), A.RandomBrightnessContrast(15 / 255, 0.0, p=1.0)], p=1.0)
    return [
        A.Affine(scale=(1.0, 2.0), keep_ratio=True, p=0.25),
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.2),
        A.Affine(rotate=(-120, 120), border_mode=cv2.BORDER_REFLECT, p=0.25),
        A.GaussianBlur(sigma_limit=(0.01, 1.5), p=0.25),
        dropout,
        A.OneOf([add, A.HueSaturationValue(10, 10, 0, p=1.0)], p=0.25),
        A.CenterCrop(size, size),
    ]


@PRESETS.register("hflip")
def _hflip(size: int) -> list[A.BasicTransform]:
    return [A.HorizontalFlip(p=0.5), A.CenterCrop(size, size)]


class TrainTransform:
    """Applies a preset to a resized uint8 image and returns normalised float32 (3, size, size).

    albumentations keeps its own random generator, which global seeds do not touch and which DataLoader workers
    would all inherit in the same state (every worker drawing the same augmentations). So the generator is seeded
    from ``seed`` in the main process, and re-seeded once inside each worker from that worker's torch seed, which
    differs per worker and follows ``seed_everything``: runs are reproducible and workers independent.

    Args:
        name: a preset in :data:`PRESETS`.
        image_size: the crop size.
        mean: per-channel mean of the 0..1 image.
        std: per-channel std of the 0..1 image.
        seed: seed of the augmentation draws in the main process (``num_workers=0``).
    """

    def __init__(
        self, name: str, image_size: int, mean: tuple[float, ...], std: tuple[float, ...], seed: int = 0
    ) -> None:
        self.name = name
        self.pipeline = A.Compose([*PRESETS.get(name)(image_size), A.Normalize(mean=mean, std=std)], seed=seed)
        self._worker_seed: int | None = None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        worker = torch.utils.data.get_worker_info()
        if worker is not None and worker.seed != self._worker_seed:
            self._worker_seed = worker.seed
            self.pipeline.set_random_seed(worker.seed % 2**32)
        out = self.pipeline(image=image)["image"]
        return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


def create_transform(
    name: str, image_size: int, mean: tuple[float, ...], std: tuple[float, ...], seed: int = 0
) -> TrainTransform:
    """Build the training transform named ``name`` (see :data:`PRESETS`)."""
    return TrainTransform(name, image_size, mean, std, seed)
