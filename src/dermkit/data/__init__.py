"""Data: dataset formats (auto-detected), safe image loading, preprocessing, augmentation, splits, synthetic data."""

from dermkit.data import acne04 as _acne04  # noqa: F401  (registers acne04; first in detection)
from dermkit.data import cache as _cache  # noqa: F401  (registers decoded_cache: data.root=CACHE)
from dermkit.data import manifests as _manifests  # noqa: F401  (registers csv_manifest and list_files)
from dermkit.data import spbl_lists as _spbl_lists  # noqa: F401  (registers spbl; before list_files)
from dermkit.data.formats import FORMATS, ReadOptions, detect_format, read_dataset
from dermkit.data.preprocess import Preprocess
from dermkit.data.public import isic_ham as _public  # noqa: F401  (registers medmnist, ham10000 and isic)
from dermkit.data.records import ImageTable, Record

__all__ = ["FORMATS", "ImageTable", "Preprocess", "ReadOptions", "Record", "detect_format", "read_dataset"]
