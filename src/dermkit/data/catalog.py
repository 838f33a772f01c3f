"""The dataset catalogue printed by ``dermkit datasets``: the layouts dermkit reads and the public datasets it knows.

Each entry names the reader (``format``), what the classes are, how large the dataset is (only where the number is
certain), how to obtain it and one command that trains on it. dermkit never downloads data itself.

Example:
    >>> print(format_catalog())
    >>> get_dataset("dermamnist").example
    'dermkit train configs/dermamnist_resnet18.yaml data.root=~/data/dermamnist.npz'
"""

from __future__ import annotations

from dataclasses import dataclass

from dermkit.errors import DataError

#: Formats of catalogue entries whose readers are not in dermkit yet.
PLANNED_FORMATS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DatasetInfo:
    """One catalogue entry.

    Attributes:
        name: short id (``ham10000``, ``dermamnist``...).
        format: the dataset-format reader (``data.format``) that reads it.
        description: what it is, in one or two sentences.
        classes: the classes (count and names) as dermkit reads them.
        size: number of images, or None when not certain.
        how_to_get: where to download or request it.
        example: one command that trains on it; None while its reader or recipe is still planned.
    """

    name: str
    format: str
    description: str
    classes: str
    size: str | None
    how_to_get: str
    example: str | None


DATASETS: list[DatasetInfo] = [
    DatasetInfo(
        "class-folders", "class_folders",
        "Your own images, one folder per class: root/<class>/*.jpg (png, bmp, tif also read).",
        "one per folder name, sorted", None,
        "your own data; `dermkit synth DIR` writes a small synthetic example",
        "dermkit train configs/demo.yaml data.root=~/data/lesions",
    ),
    DatasetInfo(
        "split-folders", "split_folders",
        "Images already split: root/{train,val,test}/<class>/*.jpg; the given splits are kept.",
        "one per class folder name, sorted", None,
        "your own data, or `dermkit split` output",
        "dermkit train configs/demo.yaml data.root=~/data/lesions_split",
    ),
    DatasetInfo(
        "csv-manifest", "csv_manifest",
        "A CSV of path,label[,patient_id,split] (paths relative to the CSV; other columns kept for subgroup "
        "reports), or a folder of train.csv/val.csv/test.csv.",
        "the distinct labels, sorted", None,
        "your own data; `dermkit split` writes such manifests",
        "dermkit train configs/demo.yaml data.root=~/data/manifest.csv",
    ),
    DatasetInfo(
        "list-files", "list_files",
        "train.txt/val.txt/test.txt of 'name,label' lines (no header) beside an image folder.",
        "the distinct labels, sorted", None,
        "your own data",
        "dermkit train configs/binary_resnet50.yaml data.root=~/data/lists data.images_dir=../images",
    ),
    DatasetInfo(
        "ham10000", "ham10000",
        "HAM10000 dermoscopic images with HAM10000_metadata.csv; several images may show one lesion, so lesion_id "
        "is the split group; age, sex and localization are kept for subgroup reports.",
        "7: akiec, bcc, bkl, df, mel, nv, vasc", "10,015 images",
        "Harvard Dataverse doi:10.7910/DVN/DBW86T (HAM10000_metadata.csv, HAM10000_images_part_1/ and _part_2/); "
        "also in the ISIC archive",
        "dermkit train configs/binary_resnet18_albu.yaml data.root=~/data/HAM10000 loss.name=ce",
    ),
    DatasetInfo(
        "dermamnist", "medmnist",
        "DermaMNIST (MedMNIST v2): HAM10000 images downsized to 28 px (MedMNIST+: 64, 128, 224 px) in one .npz "
        "with fixed train/val/test splits; extracted once to PNG files beside the .npz.",
        "7: akiec, bcc, bkl, df, mel, nv, vasc", "10,015 images (train 7,007 / val 1,003 / test 2,005)",
        "medmnist.com, or Zenodo record 10519652: dermamnist.npz (28 px), dermamnist_224.npz (224 px)",
        "dermkit train configs/dermamnist_resnet18.yaml data.root=~/data/dermamnist.npz",
    ),
    DatasetInfo(
        "isic2019", "isic",
        "ISIC 2019 challenge training set: ISIC_2019_Training_GroundTruth.csv (one-hot) with the images in "
        "ISIC_2019_Training_Input/; ISIC_2019_Training_Metadata.csv beside it is joined (lesion_id groups).",
        "8: AK, BCC, BKL, DF, MEL, NV, SCC, VASC (alphabetical; the UNK column is not a training class)",
        "25,331 training images",
        "challenge.isic-archive.com/data/#2019 (ISIC_2019_Training_Input.zip, ground truth and metadata CSVs)",
        "dermkit train configs/isic2019_teacher.yaml data.root=~/data/isic2019/ISIC_2019_Training_GroundTruth.csv",
    ),
    DatasetInfo(
        "isic2020", "isic",
        "ISIC 2020 challenge (SIIM-ISIC melanoma) training set: ISIC_2020_Training_GroundTruth.csv with the images "
        "in train/ or ISIC_2020_Training_JPEG/; patient_id is the split group.",
        "2: benign, malignant", "33,126 training images (about 584 malignant)",
        "challenge.isic-archive.com/data/#2020 (ISIC_2020_Training_JPEG.zip, ISIC_2020_Training_GroundTruth.csv)",
        "dermkit train configs/binary_resnet18_albu.yaml data.root=~/data/isic2020/ISIC_2020_Training_GroundTruth.csv "
        "data.positive_class=malignant",
    ),
    DatasetInfo(
        "acne04", "acne04",
        "ACNE04 facial acne images with severity grades and lesion counts in JPEGImages/; 5 folds of "
        "NNEW_trainval_k.txt / NNEW_test_k.txt lists, one read at a time (data.fold=k; recipes planned).",
        "4 severity grades (Hayashi 0-3) plus lesion counts", "1,457 images",
        "github.com/xpwu95/LDL (links to the data)",
        None,
    ),
    DatasetInfo(
        "sd198", "spbl",
        "SD-198 clinical skin-disease photographs, long-tailed, in the SPBL project's layout: raw/images/... with "
        "raw/train.txt and raw/val.txt of 'relative/path label' lines (val.txt is the test list). SD-260 reads alike.",
        "198 skin diseases (label numbers, or data.class_names)", "6,584 images",
        "cv.nankai.edu.cn/projects/sd-198/ (on request)",
        "dermkit train configs/sd198_spbl.yaml data.root=~/data/sd198",
    ),
    DatasetInfo(
        "melanoma-kaggle", "split_folders",
        'The Kaggle "Melanoma Cancer Image Dataset": root/{train,test}/{Benign,Malignant}/*.jpg, the layout the '
        "skin_classifier recipes expect (a validation share is held out of train).",
        "2: Benign, Malignant", None,
        'kaggle.com, dataset "Melanoma Cancer Image Dataset" (web page or the kaggle CLI)',
        "dermkit train configs/binary_resnet18_albu.yaml data.root=~/data/melanoma_cancer_dataset",
    ),
    DatasetInfo(
        "skin-two-class", "list_files",
        "The skin_disease_two_classification project's ISIC archive images with train.txt/val.txt/test.txt lists "
        "of 'ISIC_xxxxxxx.jpg,<0|1>' (0 benign, 1 malignant); every line is read, the last one included.",
        "2: 0 (benign), 1 (malignant)", "200 images (100 / 100): train 128, val 32, test 40",
        "github.com/qmh1234567/skin_disease_two_classification (images in used_dataset/, lists in "
        "skin_two_classification/dataset/)",
        "dermkit train configs/binary_resnet50.yaml data.root=~/src/skin_disease_two_classification/"
        "skin_two_classification/dataset data.images_dir=../../used_dataset",
    ),
]  # fmt: skip


def get_dataset(name: str) -> DatasetInfo:
    """The catalogue entry called ``name``; an unknown name raises, listing every entry."""
    for info in DATASETS:
        if info.name == name:
            return info
    raise DataError(f"unknown dataset '{name}'; the catalogue lists: {', '.join(info.name for info in DATASETS)}")


def format_catalog(datasets: list[DatasetInfo] | None = None) -> str:
    """The catalogue as plain text, one block per dataset (what ``dermkit datasets`` prints).

    Args:
        datasets: the entries to show; all of :data:`DATASETS` by default.
    """
    blocks = []
    for info in DATASETS if datasets is None else datasets:
        reader = f"{info.format}, reader planned" if info.format in PLANNED_FORMATS else f"data.format={info.format}"
        lines = [f"{info.name}  ({reader})", f"  {info.description}", f"  classes: {info.classes}"]
        if info.size:
            lines.append(f"  size: {info.size}")
        lines += [f"  get it: {info.how_to_get}", f"  example: {info.example or 'planned (reader and recipe to come)'}"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
