"""The teacher of a distillation task: loaded with the safe model loader, checked, frozen, fed its own view.

Why the teacher's view is made from the student's batch tensor (not from a second decode of the file): for the
teacher's outputs to teach anything about the student's, both must see the same augmented image (the same crop, flip
and rotation). So the teacher's input is the student's augmented batch, resized on the tensor to the teacher's
``image_size`` (bilinear, antialiased) and renormalised from the student's mean/std to the teacher's. The crop
geometry is the student's; only the size and the normalisation follow the teacher's ``model.json``. No engine or
dataset change is needed, and a teacher with the student's preprocessing sees the batch unchanged.

Wang et al., "SSD-KD: A self-supervised diverse knowledge distillation method for lightweight skin lesion
classification using dermoscopic images", Medical Image Analysis 84:102693, 2023 (the teacher is frozen).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from dermkit.errors import ConfigError, DermkitError
from dermkit.losses.rotations import ProjectionHead
from dermkit.models.artifact import ModelSpec, load_model, read_spec, resolve_model_dir
from dermkit.models.features import LOGITS, POOLED, check_stages, extract_features, feature_stages
from dermkit.models.spec import WEIGHTS_FILE

log = logging.getLogger("dermkit")
HEAD_TASK = "ssdkd_teacher_head"
TEACHER_KEYS, HEAD_KEYS = "teacher.model.", "ss_head."  # tensor prefixes in a stage-1 model.safetensors
STAGE1_HINT = "train it with: dermkit train configs/isic2019_ssdkd_teacher.yaml task.teacher=TEACHER"


class TeacherView(nn.Module):
    """The teacher's input from the student's normalised batch: resized to the teacher's size, renormalised.

    ``x_t = x_s * std_s / std_t + (mean_s - mean_t) / std_t`` per channel (the same pixels, the teacher's
    normalisation); resizing commutes with that per-channel affine map.

    Args:
        student, teacher: preprocessing descriptions (``image_size``, ``mean``, ``std``) as in ``model.json``.

    Shape:
        x (N, 3, S_s, S_s); output (N, 3, S_t, S_t).
    """

    def __init__(self, student: Mapping, teacher: Mapping) -> None:
        super().__init__()
        mean_s, std_s = (torch.tensor(student[key], dtype=torch.float32).view(1, 3, 1, 1) for key in ("mean", "std"))
        mean_t, std_t = (torch.tensor(teacher[key], dtype=torch.float32).view(1, 3, 1, 1) for key in ("mean", "std"))
        self.size = int(teacher["image_size"])
        self.renormalise = not (torch.equal(mean_s, mean_t) and torch.equal(std_s, std_t))
        self.register_buffer("scale", std_s / std_t, persistent=False)
        self.register_buffer("shift", (mean_s - mean_t) / std_t, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return x * self.scale + self.shift if self.renormalise else x


class FrozenTeacher(nn.Module):
    """A teacher that never trains: no gradients, always in eval mode, its inputs through :class:`TeacherView`.

    Args:
        model: the teacher classifier (:func:`dermkit.models.create_model` structure).
        view: the student-to-teacher input view.
        output: the teacher's ``model.json`` output; a ``sigmoid`` teacher's single logit ``z`` becomes the two
            softmax logits ``[0, z]`` (``softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]``).
        head: an SSD-KD projection head trained in stage 1; adds ``embedding`` (head of ``avg_pool``) to the output.
    """

    def __init__(
        self, model: nn.Module, view: nn.Module, output: str = "softmax", head: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.model = model.requires_grad_(False).eval()
        self.view = view
        self.output = output
        self.head = head.requires_grad_(False) if head is not None else None

    def train(self, mode: bool = True) -> FrozenTeacher:
        return super().train(False)  # BatchNorm statistics and dropout stay those of the trained teacher

    @torch.no_grad()
    def forward(self, images: torch.Tensor, stages: Sequence[str]) -> dict[str, torch.Tensor]:
        wanted = [*stages, POOLED] if self.head is not None and POOLED not in stages else list(stages)
        features = extract_features(self.model, self.view(images), wanted)
        if self.output == "sigmoid" and LOGITS in features:
            z = features[LOGITS].reshape(len(images), -1)[:, :1]
            features[LOGITS] = torch.cat([torch.zeros_like(z), z], dim=1)
        if self.head is not None:
            features["embedding"] = self.head(features[POOLED])
        return features


def _read(path: str | None, key: str, hint: str) -> ModelSpec:
    if not path:
        raise ConfigError(f"{key} is not set; pass {key}=PATH ({hint})")
    try:
        return read_spec(path)
    except DermkitError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def check_teacher(path: str | None, class_names: Sequence[str], key: str = "task.teacher") -> ModelSpec:
    """Check a teacher model folder from its ``model.json`` alone (no weights read): a classifier over the data's
    classes, in the data's order.

    Raises:
        ConfigError: one line when the path is unset, not a dermkit model, not a classifier, or its classes differ.
    """
    spec = _read(path, key, "a dermkit model folder, e.g. runs/isic2019_teacher")
    if spec.task == HEAD_TASK:
        raise ConfigError(
            f"{key}: {path} is an SSD-KD stage-1 run (task {HEAD_TASK}); give the teacher it was "
            f"trained from as {key} and this folder as task.teacher_head"
        )
    if spec.outputs != [LOGITS] or spec.architecture.heads:
        raise ConfigError(
            f"{key}: {path} is a '{spec.task}' model with outputs {', '.join(spec.outputs)}; a teacher "
            "must be a classifier with one logits output"
        )
    theirs, ours = list(spec.class_names), list(class_names)
    if sorted(theirs) == sorted(ours) and theirs != ours:
        raise ConfigError(
            f"{key}: the teacher's classes ({', '.join(theirs)}) are the data's in another order ({', '.join(ours)}); "
            f"set data.class_names=[{','.join(theirs)}]"
        )
    if theirs != ours:
        raise ConfigError(
            f"{key}: the teacher's classes ({', '.join(theirs)}) differ from the data's ({', '.join(ours)}); distil "
            "on data with the teacher's classes"
        )
    return spec


def load_teacher(path: str, key: str = "task.teacher") -> tuple[nn.Module, ModelSpec]:
    """Load a teacher checked by :func:`check_teacher` (the safe loader: JSON and safetensors), in eval mode."""
    try:
        model, spec = load_model(path)
    except DermkitError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    log.info(
        "teacher: %s (%s, %d classes) from %s, frozen", spec.architecture.name, spec.task, len(spec.class_names), path
    )
    return model, spec


def feature_shapes(model: nn.Module, stages: Sequence[str], image_size: int) -> dict[str, tuple[int, ...]]:
    """Per-image shapes of the named features, from one blank image (eval mode, no gradients, mode restored)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        features = extract_features(model, torch.zeros(1, 3, image_size, image_size, device=device), stages)
    model.train(was_training)
    return {name: tuple(value.shape[1:]) for name, value in features.items()}


def check_taps(model: nn.Module, taps: Mapping[str, str], image_size: int) -> dict[str, tuple[int, ...]]:
    """Check the feature taps ``{option key: stage}`` of ``model``; return each key's per-image feature shape.

    Keys ending in ``_map`` must name a feature map (C, H, W).

    Raises:
        ConfigError: one line naming the option and the valid stages.
    """
    for key, stage in taps.items():
        try:
            check_stages(model, [stage])
        except ConfigError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    shapes = feature_shapes(model, list(dict.fromkeys(taps.values())), image_size)
    for key, stage in taps.items():
        if key.endswith("_map") and len(shapes[stage]) != 3:
            maps = [name for name in feature_stages(model) if name not in (POOLED, LOGITS)]
            raise ConfigError(
                f"{key}: stage '{stage}' is not a feature map (N, C, H, W); choose one of: {', '.join(maps)}"
            )
    return {key: shapes[stage] for key, stage in taps.items()}


def check_teacher_head(path: str | None, key: str = "task.teacher_head") -> ModelSpec:
    """Check from its ``model.json`` that ``path`` is an SSD-KD stage-1 run (one line otherwise)."""
    spec = _read(path, key, f"the folder of SSD-KD stage 1; {STAGE1_HINT}, or set task.ss_weight=0")
    if spec.task != HEAD_TASK:
        raise ConfigError(f"{key}: {path} is a '{spec.task}' model, not an SSD-KD stage-1 run; {STAGE1_HINT}")
    return spec


def load_teacher_head(path: str | None, teacher: nn.Module, features: int, key: str = "task.teacher_head") -> nn.Module:
    """The projection head of an SSD-KD stage-1 run, checked to belong to ``teacher`` (the same weights).

    Args:
        path: the stage-1 run folder.
        teacher: the loaded teacher classifier.
        features: the teacher's pooled width ``d`` (the head maps d -> d).

    Raises:
        ConfigError: one line when unset, not a stage-1 run, trained on another teacher, or of another width.
    """
    check_teacher_head(path, key)
    weights = resolve_model_dir(path) / WEIGHTS_FILE  # type: ignore[arg-type]
    try:
        state = load_file(weights)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ConfigError(f"{key}: {weights}: cannot read weights ({str(exc).splitlines()[0]})") from None
    theirs = {name[len(TEACHER_KEYS) :]: value for name, value in state.items() if name.startswith(TEACHER_KEYS)}
    ours = teacher.state_dict()
    if theirs.keys() != ours.keys() or any(not torch.equal(theirs[k], ours[k].cpu()) for k in ours):
        raise ConfigError(
            f"{key}: {Path(str(path))} was trained on another teacher than task.teacher; run stage 1 with this teacher"
        )
    head = ProjectionHead(features)
    try:
        head.load_state_dict({name[len(HEAD_KEYS) :]: v for name, v in state.items() if name.startswith(HEAD_KEYS)})
    except RuntimeError:
        raise ConfigError(
            f"{key}: {weights}: no projection head of width {features} (the teacher's avg_pool)"
        ) from None
    return head
