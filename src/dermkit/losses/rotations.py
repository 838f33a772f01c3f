"""The four rotations of each image and SSD-KD's self-supervised rotation contrastive loss (Wang et al., "SSD-KD: A
self-supervised diverse knowledge distillation method for lightweight skin lesion classification using dermoscopic
images", Medical Image Analysis 84:102693, 2023).

Each image of a batch of N gives four views, turned 0, 90, 180 and 270 degrees, stacked view-major by
:func:`rotation_views`: rows ``[0, N)`` are the images as they are, rows ``[kN, (k+1)N)`` the images turned ``k``
quarter turns (:func:`view_rotations`, :func:`view_sources`). Stage 1 of SSD-KD trains the teacher's
:class:`ProjectionHead` alone with :func:`ss_contrastive_loss`: each rotated view must find its own image among the
N unrotated ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dermkit.losses.functional import cross_entropy

NUM_VIEWS = 4


def rotation_views(images: torch.Tensor) -> torch.Tensor:
    """The four rotations of every image, view-major: all at 0 degrees, then all at 90, 180 and 270 (anticlockwise).

    Shape:
        images (N, C, H, H) square; output (4N, C, H, H).
    """
    if images.ndim != 4 or images.shape[2] != images.shape[3]:
        raise ValueError(f"rotation_views needs square images (N, C, H, H) so views stack, got {tuple(images.shape)}")
    return torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(NUM_VIEWS)])


def view_rotations(num_images: int) -> torch.Tensor:
    """Quarter turns of each row of :func:`rotation_views`: ``[0]*N + [1]*N + [2]*N + [3]*N`` (int64, (4N,))."""
    return torch.arange(NUM_VIEWS).repeat_interleave(num_images)


def view_sources(num_images: int) -> torch.Tensor:
    """Source image of each row of :func:`rotation_views`: ``[0, ..., N-1]`` four times (int64, (4N,))."""
    return torch.arange(num_images).repeat(NUM_VIEWS)


def split_views(views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of :func:`rotation_views` order split into the unrotated (N, ...) and the rotated (3N, ...) ones."""
    if views.shape[0] % NUM_VIEWS:
        raise ValueError(f"split_views: {views.shape[0]} rows is not 4 views per image")
    n = views.shape[0] // NUM_VIEWS
    return views[:n], views[n:]


def rotation_similarity(rotated_emb: torch.Tensor, plain_emb: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every rotated view's embedding to every unrotated image's embedding.

    Shape:
        rotated_emb (3N, d), plain_emb (N, d); output (3N, N), row ``r`` belongs to image ``r mod N``.
    """
    if rotated_emb.ndim != 2 or plain_emb.ndim != 2 or rotated_emb.shape[0] != 3 * plain_emb.shape[0]:
        raise ValueError(
            f"rotation similarity needs rotated (3N, d) and unrotated (N, d) embeddings, got "
            f"{tuple(rotated_emb.shape)} and {tuple(plain_emb.shape)}"
        )
    return F.normalize(rotated_emb, dim=1) @ F.normalize(plain_emb, dim=1).T


def ss_contrastive_loss(rotated_emb: torch.Tensor, plain_emb: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Stage-1 loss of SSD-KD (Wang et al., Medical Image Analysis 84:102693, 2023): which image is this view from?

    Cross-entropy over the N unrotated images, the scores being :func:`rotation_similarity` (cosines, no
    temperature, as in the paper's code) and the target each view's source image.

    Shape:
        rotated_emb (3N, d), plain_emb (N, d); output () or (3N,) for ``none``.
    """
    similarity = rotation_similarity(rotated_emb, plain_emb)
    n = plain_emb.shape[0]
    return cross_entropy(similarity, view_sources(n)[n:].to(similarity.device), reduction=reduction)


class ProjectionHead(nn.Module):
    """SSD-KD's self-supervised head on pooled features: ``Linear(d, d) -> ReLU -> Linear(d, d)`` (Wang et al. 2023).

    Shape:
        x (N, d); output (N, d).
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(features, features), nn.ReLU(inplace=True), nn.Linear(features, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class SSContrastiveLoss(nn.Module):
    """Module form of :func:`ss_contrastive_loss`, SSD-KD's stage-1 loss (Wang et al., Medical Image Analysis 2023).

    Shape:
        rotated_emb (3N, d), plain_emb (N, d); output () or (3N,) for ``none``.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, rotated_emb: torch.Tensor, plain_emb: torch.Tensor) -> torch.Tensor:
        return ss_contrastive_loss(rotated_emb, plain_emb, self.reduction)
