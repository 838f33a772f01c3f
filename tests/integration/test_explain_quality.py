"""Grad-CAM explanations are not noise: on images whose class is decided by a lesion, the map is hot on the lesion.

A tiny ResNet (timm ``test_resnet``, output stride 8 so its last stage keeps an 8 x 8 map at 64 px; ``avg_down``
off, because its stride-1 "same" average pools in the dilated stages shift the map by half a cell each) is trained
for a few seconds on drawn images: plain skin ("clear") or skin with one dark round lesion at a random place ("lesion").
The test images are wider than the training ones (64 x 96), so the map also has to be mapped back through the
resize and centre crop to line up with the lesion mask.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dermkit import config
from dermkit.cli import main
from dermkit.engine.train import train
from dermkit.inference.explain import Explainer
from dermkit.recipes import resolve_recipe

pytestmark = pytest.mark.slow

TRAIN = [
    "model.name=test_resnet",
    "model.kwargs={output_stride: 8, avg_down: false}",
    "data.image_size=64",
    "data.resize=64",
    "data.batch_size=16",
    "data.num_workers=0",
    "data.val_fraction=0.2",
    "optim.lr=3e-3",
    "trainer.max_epochs=5",
    "trainer.progress_bar=false",
]


def draw(rng: np.random.Generator, lesion: bool, height: int = 64, width: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Skin with noise, and with ``lesion`` a dark disc (radius 6-9 px) within 16 px of the centre; and its mask."""
    image = np.full((height, width, 3), (225, 185, 155), np.float32) * rng.uniform(0.8, 1.05)
    image += rng.normal(0, 6, (height, width, 1))
    mask = np.zeros((height, width), np.uint8)
    if lesion:
        centre = (int(rng.uniform(width / 2 - 16, width / 2 + 16)), int(rng.uniform(height / 2 - 16, height / 2 + 16)))
        cv2.circle(mask, centre, int(rng.uniform(6, 9.5)), 1, -1)
        image[mask.astype(bool)] = np.array([90, 55, 40]) * rng.uniform(0.8, 1.2)
    image = cv2.GaussianBlur(image, (0, 0), 0.8)
    return np.clip(image, 0, 255).astype(np.uint8), mask.astype(bool)


@pytest.fixture(scope="module", params=["ce", "bce"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on drawn lesions: ``ce`` (two softmax logits) or ``bce`` (one sigmoid logit)."""
    root = tmp_path_factory.mktemp(f"lesions_{request.param}")
    rng = np.random.default_rng(0)
    for name, lesion in (("clear", False), ("lesion", True)):
        (root / "data" / name).mkdir(parents=True)
        for index in range(32):
            image, _ = draw(rng, lesion)
            cv2.imwrite(str(root / "data" / name / f"{index}.png"), image[..., ::-1])
    overrides = [f"data.root={root / 'data'}", f"loss.name={request.param}", *TRAIN]
    train(config.load(resolve_recipe("demo"), overrides), root / "run")
    return root / "run"


def _regions(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lesion, and the visible skin more than 8 px away from it (the centre crop keeps columns 16..79)."""
    far = ~cv2.dilate(mask.astype(np.uint8), np.ones((17, 17), np.uint8)).astype(bool)
    far[:, :16] = far[:, 80:] = False
    return mask, far


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_map_of_the_lesion_class_is_hotter_on_the_lesion_than_on_the_skin_around(run: Path, method: str) -> None:
    explainer = Explainer.from_checkpoint(run, method=method)
    rng = np.random.default_rng(123)
    for _ in range(6):
        image, mask = draw(rng, True, 64, 96)
        result = explainer.explain(image, class_name="lesion")
        assert result.heatmap.shape == (64, 96)
        lesion, skin = _regions(mask)
        assert result.heatmap[lesion].mean() > 5 * result.heatmap[skin].mean()
        near = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        assert near[np.unravel_index(result.heatmap.argmax(), result.heatmap.shape)]  # peak within 4 px of it


def test_map_of_the_other_class_is_cold_on_the_lesion(run: Path) -> None:
    """For a single sigmoid logit this is the negated logit's map: evidence against the lesion is not on it."""
    explainer = Explainer.from_checkpoint(run)
    rng = np.random.default_rng(321)
    for _ in range(6):
        image, mask = draw(rng, True, 64, 96)
        lesion, skin = _regions(mask)
        clear = explainer.explain(image, class_name="clear").heatmap
        assert clear[lesion].mean() < 0.5 * clear[skin].mean()


def test_explain_command_writes_overlay_and_map_and_reports_a_bad_image(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(5)
    paths = []
    for name in ("first", "second"):
        image, _ = draw(rng, True, 64, 96)
        paths.append(tmp_path / f"{name}.png")
        cv2.imwrite(str(paths[-1]), image[..., ::-1])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "maps"
    args = ["explain", str(run), str(paths[0]), str(broken), str(paths[1]), "--out", str(out), "--class", "lesion"]
    assert main([*args, "--method", "gradcam++"]) == 0
    printed = capsys.readouterr().out
    assert sum(str(broken) in line and "unreadable" in line for line in printed.splitlines()) == 1
    assert "explained 2 of 3 images" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "first_gradcampp.npy",
        "first_gradcampp.png",
        "second_gradcampp.npy",
        "second_gradcampp.png",
    ]
    heat = np.load(out / "first_gradcampp.npy")
    assert heat.shape == (64, 96) and heat.dtype == np.float32
    assert cv2.imread(str(out / "first_gradcampp.png")).shape == (64, 96, 3)


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [(["--layer", "layer9"], "unknown layer 'layer9'"), (["--class", "nevus"], "unknown class 'nevus'")],
)
def test_explain_command_bad_option_is_one_error_line(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], phrase: str
) -> None:
    image, _ = draw(np.random.default_rng(0), True)
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), image)
    assert main(["explain", str(run), str(path), "--out", str(tmp_path / "out"), *extra]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(errors) == 1 and errors[0].startswith("error: ") and phrase in errors[0]
