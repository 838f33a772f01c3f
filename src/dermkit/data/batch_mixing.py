"""Mixing training images in pairs, labels included: mixup and CutMix.

mixup (Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018) trains on ``lam * x_i + (1 - lam) *
x_j`` with the label ``lam * y_i + (1 - lam) * y_j``, ``lam ~ Beta(alpha, alpha)``. CutMix (Yun et al., "CutMix:
Regularization Strategy to Train Strong Classifiers with Localizable Features", ICCV 2019) pastes a box of image j
into image i instead; the box covers ``1 - lam`` of the image (clipped at the borders, after which ``lam`` is the
uncovered fraction). Each image's partner j is a random permutation of the batch. As in timm, one ``lam`` serves the
whole batch, a batch is mixed with probability ``prob``, and with both methods on, CutMix is chosen with probability
``switch_prob``.

The label is never materialised: :meth:`Mix.loss` returns ``lam * loss(logits, y) + (1 - lam) * loss(logits,
y[partner])``, which equals the loss against the mixed label for every loss linear in its target (cross-entropy with
label smoothing and class weights, BCE) and is the usual form for the rest (focal, LDAM...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Mix:
    """One batch's mixing: image i now holds ``lam`` of itself and ``1 - lam`` of image ``partner[i]``.

    Attributes:
        images: the mixed batch (N, C, H, W).
        partner: (N,) index of the image mixed into each.
        lam: the share of each image's own label.
    """

    images: torch.Tensor
    partner: torch.Tensor
    lam: float

    def loss(
        self, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], logits: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """``lam * loss(logits, target) + (1 - lam) * loss(logits, target[partner])``."""
        own = loss(logits, target)
        if self.lam == 1.0:
            return own
        return self.lam * own + (1.0 - self.lam) * loss(logits, target[self.partner.to(target.device)])


def mixup(images: torch.Tensor, partner: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam * images + (1 - lam) * images[partner]``.

    Shape:
        images (N, ...), partner (N,); returns (N, ...).
    """
    return images * lam + images[partner] * (1.0 - lam)


def cutmix_box(height: int, width: int, lam: float, generator: torch.Generator | None = None) -> tuple[int, ...]:
    """A box of about ``(1 - lam)`` of an image's area (sides ``sqrt(1 - lam)`` of the image's) around a uniform
    centre, clipped to the image.

    Returns:
        ``(top, bottom, left, right)``, half-open.
    """
    ratio = (1.0 - lam) ** 0.5
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy = int(torch.randint(height, (1,), generator=generator))
    cx = int(torch.randint(width, (1,), generator=generator))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return top, bottom, left, right


def cutmix(images: torch.Tensor, partner: torch.Tensor, box: tuple[int, ...]) -> tuple[torch.Tensor, float]:
    """Paste ``box`` (``top, bottom, left, right``) of image ``partner[i]`` into image i.

    Shape:
        images (N, C, H, W), partner (N,).

    Returns:
        The mixed batch and ``lam``, the fraction of each image left its own.
    """
    top, bottom, left, right = box
    mixed = images.clone()
    mixed[:, :, top:bottom, left:right] = images[partner, :, top:bottom, left:right]
    height, width = images.shape[-2:]
    return mixed, 1.0 - (bottom - top) * (right - left) / (height * width)


class BatchMixer:
    """Draws each training batch's mixing (mixup, CutMix, both or neither) from torch's random generator.

    Args:
        mixup_alpha: Beta(alpha, alpha) of mixup's ``lam``; 0 turns mixup off.
        cutmix_alpha: the same for CutMix; 0 turns it off.
        prob: probability that a batch is mixed at all.
        switch_prob: with both on, the probability of CutMix rather than mixup.
    """

    def __init__(
        self, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0, prob: float = 1.0, switch_prob: float = 0.5
    ) -> None:
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ValueError(f"mixup_alpha and cutmix_alpha must be >= 0, got {mixup_alpha} and {cutmix_alpha}")
        if not (0.0 <= prob <= 1.0 and 0.0 <= switch_prob <= 1.0):
            raise ValueError(f"prob and switch_prob must be in [0, 1], got {prob} and {switch_prob}")
        self.mixup_alpha, self.cutmix_alpha = mixup_alpha, cutmix_alpha
        self.prob, self.switch_prob = prob, switch_prob

    @property
    def active(self) -> bool:
        """Whether any batch will be mixed."""
        return self.prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)

    def __call__(self, images: torch.Tensor) -> Mix | None:
        """The mixed batch, or None when this batch stays as it is."""
        if not self.active or float(torch.rand(())) >= self.prob:
            return None
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha == 0 or float(torch.rand(())) < self.switch_prob)
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        partner = torch.randperm(images.shape[0]).to(images.device)
        if use_cutmix:
            mixed, lam = cutmix(images, partner, cutmix_box(*images.shape[-2:], lam))
            return Mix(mixed, partner, lam)
        return Mix(mixup(images, partner, lam), partner, lam)
