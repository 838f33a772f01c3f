"""dermkit.models.artifact: ``model.safetensors`` + ``model.json`` save/load, and its one-line errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from dermkit.data.preprocess import Preprocess
from dermkit.errors import ModelFileError
from dermkit.models import create_model
from dermkit.models.artifact import load_model, save_model
from dermkit.models.spec import (
    FORMAT,
    FORMAT_VERSION,
    SPEC_FILE,
    WEIGHTS_FILE,
    Architecture,
    Decision,
    ModelSpec,
    read_spec,
    write_spec,
)

INPUT = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def make_spec(name: str = "test_resnet", outputs: int = 3, head: str = "mlp") -> ModelSpec:
    return ModelSpec(
        architecture=Architecture(name=name, num_outputs=outputs, head=head, head_hidden=8, drop_rate=0.2),
        class_names=["acne", "eczema", "psoriasis"][:outputs] if outputs > 1 else ["benign", "malignant"],
        preprocessing=Preprocess(image_size=32, resize=36).to_dict(),
        decision=Decision(temperature=1.5),
        metrics={"val/acc": 0.75},
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module, ModelSpec]:
    torch.manual_seed(0)
    spec = make_spec()
    model = create_model("test_resnet", 3, head="mlp", head_hidden=8, drop_rate=0.2)
    with torch.no_grad():  # move BatchNorm running stats away from their defaults
        model.train()(torch.rand(4, 3, 32, 32))
    model.eval()
    directory = save_model(tmp_path_factory.mktemp("artifact") / "run", model, spec)
    return directory, model, spec


def copy_model(saved_dir: Path, target: Path) -> Path:
    target.mkdir()
    for name in (SPEC_FILE, WEIGHTS_FILE):
        (target / name).write_bytes((saved_dir / name).read_bytes())
    return target


def test_save_writes_exactly_the_two_files(saved: tuple) -> None:
    directory, _, _ = saved
    assert sorted(p.name for p in directory.iterdir()) == sorted([SPEC_FILE, WEIGHTS_FILE])
    data = json.loads((directory / SPEC_FILE).read_text())
    assert data["format"] == FORMAT and data["format_version"] == FORMAT_VERSION


def test_round_trip_gives_bit_identical_logits_and_equal_spec(saved: tuple) -> None:
    directory, model, spec = saved
    loaded, loaded_spec = load_model(directory)
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(INPUT), model(INPUT))
    assert loaded_spec == spec
    assert Preprocess.from_dict(loaded_spec.preprocessing) == Preprocess(image_size=32, resize=36)


@pytest.mark.parametrize("which", ["folder", SPEC_FILE, WEIGHTS_FILE])
def test_load_accepts_folder_json_and_weights_paths(saved: tuple, which: str) -> None:
    directory, model, _ = saved
    path = directory if which == "folder" else directory / which
    loaded, _ = load_model(str(path))
    with torch.no_grad():
        assert torch.equal(loaded(INPUT), model(INPUT))


def test_binary_single_logit_model_round_trips(tmp_path: Path) -> None:
    spec = make_spec(outputs=1, head="linear").model_copy(update={"output": "sigmoid"})
    model = create_model("test_resnet", 1, head="linear", drop_rate=0.2).eval()
    loaded, loaded_spec = load_model(save_model(tmp_path, model, spec))
    assert loaded_spec.output == "sigmoid"
    with torch.no_grad():
        assert loaded(INPUT).shape == (2, 1)


@pytest.mark.parametrize("name", ["resnet18", "test_resnet"])
def test_small_image_stem_is_recorded_and_rebuilt(tmp_path: Path, name: str) -> None:
    spec = make_spec(outputs=2, head="linear").model_copy(
        update={"architecture": Architecture(name=name, num_outputs=2, stem="cifar")}
    )
    model = create_model(name, 2, stem="cifar").eval()
    loaded, loaded_spec = load_model(save_model(tmp_path, model, spec))
    assert loaded_spec.architecture.stem == "cifar"
    with torch.no_grad():
        assert torch.equal(loaded(INPUT), model(INPUT))


def test_write_spec_rewrites_decision_and_keeps_weights(saved: tuple, tmp_path: Path) -> None:
    directory = copy_model(saved[0], tmp_path / "copy")
    spec = read_spec(directory)
    spec = spec.model_copy(update={"decision": spec.decision.model_copy(update={"threshold": 0.3})})
    write_spec(directory, spec)
    _, reread = load_model(directory)
    assert reread.decision.threshold == 0.3


# --- errors ---------------------------------------------------------------------------------------------------------


def assert_one_line_error(path: Path, match: str) -> ModelFileError:
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(path)
    assert "\n" not in str(info.value)
    return info.value


def test_missing_path_raises(tmp_path: Path) -> None:
    assert_one_line_error(tmp_path / "nowhere", r"nowhere: no such model file or folder")


def test_folder_without_model_json_raises(tmp_path: Path) -> None:
    assert_one_line_error(tmp_path, r"not a dermkit model")


def test_weights_path_without_model_json_beside_it_raises(tmp_path: Path, saved: tuple) -> None:
    weights = tmp_path / WEIGHTS_FILE
    weights.write_bytes((saved[0] / WEIGHTS_FILE).read_bytes())
    assert_one_line_error(weights, r"no model\.json beside it")


def test_other_file_names_are_not_models(tmp_path: Path) -> None:
    other = tmp_path / "best.ckpt"
    other.write_bytes(b"x")
    assert_one_line_error(other, r"best\.ckpt: not a dermkit model")


@pytest.mark.parametrize("text", ["{not json", "", '{"format": "dermkit-model",'])
def test_corrupt_json_raises(saved: tuple, tmp_path: Path, text: str) -> None:
    directory = copy_model(saved[0], tmp_path / "m")
    (directory / SPEC_FILE).write_text(text)
    assert_one_line_error(directory, r"model\.json: not valid JSON")


def test_non_utf8_json_raises(saved: tuple, tmp_path: Path) -> None:
    directory = copy_model(saved[0], tmp_path / "m")
    (directory / SPEC_FILE).write_bytes(b"\xff\xfe{}")
    assert_one_line_error(directory, r"not valid JSON")


@pytest.mark.parametrize("payload", [{"architecture": {}}, [1, 2], {"format": "something-else"}, "dermkit-model"])
def test_json_without_dermkit_format_key_raises(saved: tuple, tmp_path: Path, payload: object) -> None:
    directory = copy_model(saved[0], tmp_path / "m")
    (directory / SPEC_FILE).write_text(json.dumps(payload))
    assert_one_line_error(directory, r'missing "format": "dermkit-model"')


def edit_spec(directory: Path, **changes: object) -> None:
    data = json.loads((directory / SPEC_FILE).read_text())
    data.update(changes)
    (directory / SPEC_FILE).write_text(json.dumps(data))


def test_newer_format_version_raises_asking_to_upgrade(saved: tuple, tmp_path: Path) -> None:
    directory = copy_model(saved[0], tmp_path / "m")
    edit_spec(directory, format_version=FORMAT_VERSION + 1)
    assert_one_line_error(directory, rf"newer dermkit \(format {FORMAT_VERSION + 1}\); upgrade")


@pytest.mark.parametrize("version", ["2", None, 1.5])
def test_non_integer_format_version_raises(saved: tuple, tmp_path: Path, version: object) -> None:
    directory = copy_model(saved[0], tmp_path / "m")
    edit_spec(directory, format_version=version)
    assert_one_line_error(directory, r"format_version")


def test_invalid_spec_field_names_the_field(saved: tuple, tmp_path: Path) -> None:
    directory = copy_model(saved[0], tmp_path / "m")
    edit_spec(directory, class_names="not a list")
    assert_one_line_error(directory, r"invalid 'class_names'")


def test_missing_weights_file_raises(saved: tuple, tmp_path: Path) -> None:
    directory = copy_model(saved[0], tmp_path / "m")
    (directory / WEIGHTS_FILE).unlink()
    assert_one_line_error(directory, r"model\.safetensors: weights file missing")


@pytest.mark.parametrize(
    "garbage", [b"", b"garbage", b"\x00" * 64, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      "]
)
def test_garbage_weights_file_raises(saved: tuple, tmp_path: Path, garbage: bytes) -> None:
    directory = copy_model(saved[0], tmp_path / "m")
    (directory / WEIGHTS_FILE).write_bytes(garbage)
    assert_one_line_error(directory, r"model\.safetensors: cannot read weights")


def test_truncated_weights_file_raises(saved: tuple, tmp_path: Path) -> None:
    directory = copy_model(saved[0], tmp_path / "m")
    data = (directory / WEIGHTS_FILE).read_bytes()
    (directory / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    assert_one_line_error(directory, r"model\.safetensors: cannot read weights")


def test_weights_of_another_architecture_raise(tmp_path: Path) -> None:
    other = create_model("test_efficientnet", 3, head="mlp", head_hidden=8)
    save_model(tmp_path, other, make_spec())  # the spec says test_resnet
    assert_one_line_error(tmp_path, r"weights do not match test_resnet")


def test_weights_with_wrong_head_size_raise(tmp_path: Path) -> None:
    save_model(tmp_path, create_model("test_resnet", 5, head="mlp", head_hidden=8), make_spec(outputs=3))
    assert_one_line_error(tmp_path, r"weights do not match test_resnet")


def test_loading_never_unpickles(saved: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading a dermkit model must not unpickle")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    directory, model, _ = saved
    loaded, _ = load_model(directory)
    with torch.no_grad():
        assert torch.equal(loaded(INPUT), model(INPUT))


def test_weights_file_is_safetensors_not_pickle(saved: tuple) -> None:
    data = (saved[0] / WEIGHTS_FILE).read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    assert header["__metadata__"] == {"format": FORMAT}
    assert not data.startswith(b"\x80")  # pickle protocol marker
