"""Count bins, grade ranges and target label distributions of LDL and LDS; imported from :mod:`dermkit.losses.ldl`.

LDL: X. Wu et al., "Joint Acne Image Grading and Counting via Label Distribution Learning", ICCV 2019.
LDS: K. Prokhorov and A. A. Kalinin, "Improving Acne Image Grading with Label Distribution Smoothing", ISBI 2024
(arXiv 2403.00268).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F

Ranges = Sequence[tuple[int, int]]


def count_to_bin(count: torch.Tensor, num_bins: int) -> torch.Tensor:
    """Count bin of each lesion count: ``clip(count - 1, 0, num_bins - 1)``; :func:`bin_to_count` inverts it."""
    if num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    return (count.long() - 1).clamp(0, num_bins - 1)


def bin_to_count(bins: torch.Tensor) -> torch.Tensor:
    """Lesion count predicted for a count bin: ``bin + 1`` (the papers' ``argmax(p_count) + 1``)."""
    return bins.long() + 1


def check_ranges(ranges: Ranges, num_bins: int, what: str = "ranges") -> list[tuple[int, int]]:
    """Validate inclusive ``(first, last)`` ranges that tile ``0..num_bins-1`` in order; return them as int tuples."""
    out, start = [], 0
    for i, (first, last) in enumerate(ranges):
        if int(first) != start or int(last) < int(first):
            raise ValueError(
                f"{what} must be contiguous inclusive (first, last) ranges covering bins 0..{num_bins - 1}; "
                f"range {i} is ({first}, {last}) but should start at bin {start}"
            )
        out.append((int(first), int(last)))
        start = int(last) + 1
    if start != num_bins:
        raise ValueError(f"{what} cover bins 0..{start - 1} but there are {num_bins} bins (0..{num_bins - 1})")
    return out


def grade_ranges(boundaries: Sequence[int] = (5, 20, 50), num_bins: int = 65) -> list[tuple[int, int]]:
    """Count-bin range of each grade from the largest count of every grade but the last (the Hayashi criterion).

    Args:
        boundaries: largest lesion count of each grade but the last, strictly increasing; the default (5, 20, 50) is
            Hayashi's mild <= 5 < moderate <= 20 < severe <= 50 < very severe (Wu et al., ICCV 2019).
        num_bins: K count bins.

    Returns:
        One inclusive bin range per grade; the default gives [(0, 4), (5, 19), (20, 49), (50, 64)].
    """
    edges = [int(b) for b in boundaries]
    if any(b <= a for a, b in pairwise(edges)) or (edges and not 1 <= edges[0] <= edges[-1] < num_bins):
        raise ValueError(f"grade boundaries must increase strictly within 1..{num_bins - 1}, got {list(boundaries)}")
    return list(zip([0, *edges], [e - 1 for e in edges] + [num_bins - 1], strict=True))


def block_ranges(num_bins: int = 65, block: int = 5) -> list[tuple[int, int]]:
    """Blocks of ``block`` consecutive bins (the last may be shorter): LDS's 13 head classes for 65 bins and 5."""
    if num_bins < 1 or block < 1:
        raise ValueError(f"num_bins and block must be >= 1, got {num_bins} and {block}")
    return [(a, min(a + block, num_bins) - 1) for a in range(0, num_bins, block)]


def nest_ranges(fine: Ranges, coarse: Ranges) -> list[tuple[int, int]]:
    """Which fine groups make up each coarse group: a fine group belongs to the coarse group holding its bins.

    Args:
        fine: bin ranges of the fine groups, e.g. :func:`block_ranges` (LDS's 13 blocks).
        coarse: bin ranges of the coarse groups, e.g. :func:`grade_ranges` (4 grades).

    Returns:
        Per coarse group, the inclusive range of fine-group indices; blocks of 5 in the default grades give
        [(0, 0), (1, 3), (4, 9), (10, 12)]. A fine group straddling a coarse border raises ``ValueError``.
    """
    num_bins = int(coarse[-1][1]) + 1 if len(coarse) else 0
    fine, coarse = check_ranges(fine, num_bins, "fine ranges"), check_ranges(coarse, num_bins, "coarse ranges")
    starts, ends = [a for a, _ in fine], [b for _, b in fine]
    out = []
    for first, last in coarse:
        if first not in starts or last not in ends:
            raise ValueError(f"fine ranges {fine} straddle the border of coarse range ({first}, {last})")
        out.append((starts.index(first), ends.index(last)))
    return out


def gaussian_distribution(
    bins: torch.Tensor, num_bins: int, sigma: float, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Gaussian label distribution ``exp(-(j - y)^2 / (2 sigma^2))`` over bins ``j``, truncated and renormalised.

    The target of Wu et al. (ICCV 2019), sigma = 3; ``sigma = 0`` gives the one-hot of ``y`` exactly.

    Args:
        bins: true count bins y in ``0..num_bins-1``.
        num_bins: K.
        sigma: standard deviation in bins, >= 0.
        dtype: floating dtype of the result (default: torch's default dtype).

    Shape:
        bins (N,); output (N, K), rows summing to 1.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if bins.ndim != 1 or (bins.numel() and (int(bins.min()) < 0 or int(bins.max()) >= num_bins)):
        raise ValueError(
            f"bins must be a 1-D tensor of bin indices in 0..{num_bins - 1}, got shape {tuple(bins.shape)}"
        )
    dtype = dtype or torch.get_default_dtype()
    if sigma == 0:
        return F.one_hot(bins.long(), num_bins).to(dtype)
    j = torch.arange(num_bins, device=bins.device, dtype=dtype)
    d = torch.exp(-((j - bins.to(dtype)[:, None]) ** 2) / (2.0 * sigma**2))
    return d / d.sum(dim=1, keepdim=True)


def group_sum(dist: torch.Tensor, ranges: Ranges) -> torch.Tensor:
    """Sum a distribution over groups of consecutive bins (count -> grades, count -> LDS blocks, blocks -> grades).

    Shape:
        dist (N, K); output (N, G) with G = len(ranges).
    """
    ranges = check_ranges(ranges, dist.shape[-1])
    return torch.stack([dist[..., a : b + 1].sum(dim=-1) for a, b in ranges], dim=-1)


def lds_epsilon(ranges: Ranges, num_bins: int = 65, eps_min: float = 0.6, eps_max: float = 1.0) -> torch.Tensor:
    """Per-bin smoothing weight of LDS (Prokhorov & Kalinin, ISBI 2024): piecewise linear in the bin index.

    ``eps_max`` at every grade border, ``eps_min`` at each inner grade's centre (both central bins of an even-length
    grade) and at the open ends (bin 0 and the last bin): the first grade rises from ``eps_min`` to ``eps_max``, the
    last falls from ``eps_max`` to ``eps_min``. A single grade (no border) is ``eps_min`` throughout.

    Args:
        ranges: grade bin ranges, e.g. ``grade_ranges((5, 20, 50), 65)``.
        num_bins: K.
        eps_min: smallest weight, in [0, eps_max].
        eps_max: largest weight, in [eps_min, 1].

    Shape:
        output (K,) in torch's default dtype.
    """
    ranges = check_ranges(ranges, num_bins)
    if not 0.0 <= eps_min <= eps_max <= 1.0:
        raise ValueError(f"need 0 <= eps_min <= eps_max <= 1, got eps_min={eps_min}, eps_max={eps_max}")
    eps, last = torch.empty(num_bins, dtype=torch.float64), len(ranges) - 1
    for g, (a, b) in enumerate(ranges):
        j = torch.arange(a, b + 1, dtype=torch.float64)
        to_lower = j - a if g > 0 else torch.full_like(j, float("inf"))
        to_upper = b - j if g < last else torch.full_like(j, float("inf"))
        span = (b - a) // 2 if 0 < g < last else b - a  # distance from a border to where eps reaches eps_min
        closeness = (1.0 - torch.minimum(to_lower, to_upper) / max(span, 1)).clamp(0.0, 1.0)
        eps[a : b + 1] = eps_min + (eps_max - eps_min) * closeness
    return eps.to(torch.get_default_dtype())


def smoothed_distribution(bins: torch.Tensor, epsilon: torch.Tensor, sigma: float, num_bins: int) -> torch.Tensor:
    """LDS count target ``(1 - eps(y)) * one_hot(y) + eps(y) * gaussian(y)`` (Prokhorov & Kalinin, ISBI 2024).

    Args:
        bins: true count bins y.
        epsilon: per-bin weights in [0, 1], e.g. :func:`lds_epsilon`.
        sigma: Gaussian standard deviation in bins.
        num_bins: K.

    Shape:
        bins (N,), epsilon (K,); output (N, K) in ``epsilon``'s dtype, rows summing to 1.
    """
    if epsilon.shape != (num_bins,) or not bool(((epsilon >= 0) & (epsilon <= 1)).all()):
        raise ValueError(f"epsilon must be ({num_bins},) weights in [0, 1], got shape {tuple(epsilon.shape)}")
    one_hot = gaussian_distribution(bins, num_bins, 0.0, dtype=epsilon.dtype)
    e = epsilon.to(bins.device)[bins.long()][:, None]
    return (1.0 - e) * one_hot + e * gaussian_distribution(bins, num_bins, sigma, dtype=epsilon.dtype)
