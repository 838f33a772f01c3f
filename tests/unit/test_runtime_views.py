"""dermkit.inference.runtime: numpy test-time-augmentation views (the ONNX predictor's) and the predictor choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dermkit.errors import ConfigError
from dermkit.inference.runtime import is_onnx, numpy_views


def test_numpy_views_are_torch_flips_and_rotations_in_the_pytorch_predictor_order() -> None:
    x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    t = torch.from_numpy(x)
    rotations = [torch.rot90(t, k, dims=(-2, -1)) for k in range(4)]
    expected = {
        "flips": [t, t.flip(-1), t.flip(-2), t.flip(-1, -2)],
        "d4": rotations + [view.flip(-1) for view in rotations],
    }
    for mode, views in expected.items():
        got = numpy_views(x, mode)
        assert len(got) == len(views) and all(view.flags.c_contiguous for view in got)
        for mine, reference in zip(got, views, strict=True):
            assert np.array_equal(mine, reference.numpy())
    assert numpy_views(x, "none")[0] is x and numpy_views(x, None)[0] is x


def test_unknown_view_mode_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown test-time augmentation 'rot'; choose one of: none, flips, d4"):
        numpy_views(np.zeros((1, 3, 2, 2), np.float32), "rot")


@pytest.mark.parametrize(("path", "onnx"), [("model.onnx", True), ("M.ONNX", True), ("runs/demo", False),
                                            ("runs/demo/model.json", False), ("model.onnx.json", False)])  # fmt: skip
def test_onnx_files_are_recognised_by_their_suffix(path: str, onnx: bool) -> None:
    assert is_onnx(path) is onnx
