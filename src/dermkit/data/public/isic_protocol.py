"""The D-KD / SSD-KD protocol on ISIC 2019: a 10 % test hold-out (seed 2021) and 5 stratified folds on the rest.

Wang et al., "SSD-KD: A self-supervised diverse knowledge distillation method for lightweight skin lesion
classification using dermoscopic images", Medical Image Analysis 84:102693, 2023 (METHODS.md section 4): the 8
classes of ISIC 2019 (UNK is not one), 10 % of the images held out as the test set with seed 2021, the other 90 %
in 5 stratified folds (seed 2021); fold 2 validates, the four others train.

Read it with the ``isic`` reader's ``data.fold=k`` (k in 1..5; 0, the default, reads the CSV without splits). Two
differences from the original, on purpose: the test hold-out is stratified by class (the original shuffled without
stratifying), and both the hold-out and the folds keep every ``lesion_id`` of ``ISIC_2019_Training_Metadata.csv``
on one side, so images of one lesion never straddle train and test. Byte-identical files are not searched here
(that reads every image; ``dermkit split`` and ``dermkit audit`` do it).
"""

from __future__ import annotations

from collections.abc import Sequence

from dermkit.data.splits import kfold_assign, stratified_group_split
from dermkit.errors import DataError

SEED = 2021
TEST_FRACTION = 0.1
FOLDS = 5


def protocol_splits(labels: Sequence[int], groups: Sequence[str | None], fold: int, where: str = "") -> list[str]:
    """``train``, ``val`` or ``test`` per image under the protocol, with fold ``fold`` (1..5) validating.

    Args:
        labels: class index per image.
        groups: lesion id per image (None: the image is its own group).
        fold: the validating fold, 1-based as the original's ``folder`` column (the paper validates on 2).
        where: the file read, for the error message.

    Returns:
        A split name per image; the same inputs always give the same splits.
    """
    if not 1 <= fold <= FOLDS:
        raise DataError(f"{where}: data.fold={fold}: the ISIC 2019 protocol has folds 1..{FOLDS} (0: no splits)")
    held = stratified_group_split(
        labels, {"train": 1.0 - TEST_FRACTION, "test": TEST_FRACTION}, groups=groups, seed=SEED
    )
    rest = [i for i, split in enumerate(held) if split == "train"]
    folds = kfold_assign([labels[i] for i in rest], FOLDS, groups=[groups[i] for i in rest], seed=SEED)
    splits = list(held)
    for i, k in zip(rest, folds, strict=True):
        splits[i] = "val" if k + 1 == fold else "train"
    return splits
