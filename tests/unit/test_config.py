"""dermkit.config: YAML recipes, dotted overrides, validation errors, dump, and the bundled recipes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import dermkit
from dermkit.config import RunConfig, dump, load, parse_overrides, validate
from dermkit.errors import ConfigError

RECIPES = sorted((Path(dermkit.__file__).parent / "configs").glob("*.yaml"))
COMMON_KEYS = [
    "data.root",
    "data.image_size",
    "data.batch_size",
    "data.num_workers",
    "model.name",
    "model.pretrained",
    "model.pretrained_file",
    "loss.name",
    "optim.name",
    "optim.lr",
    "trainer.max_epochs",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.strategy",
    "seed",
]


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def get(config: RunConfig, dotted: str) -> object:
    node: object = config
    for part in dotted.split("."):
        assert part in type(node).model_fields, f"{dotted}: no field {part}"
        node = getattr(node, part)
    return node


# --- loading and overrides ------------------------------------------------------------------------------------------


def test_load_reads_yaml_values_and_fills_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 7\ndata:\n  root: /data/x\n  image_size: 64\nmodel:\n  name: test_resnet\n")
    config = load(path)
    assert config.seed == 7
    assert config.data.root == "/data/x" and config.data.image_size == 64
    assert config.model.name == "test_resnet"
    assert config.trainer.max_epochs == RunConfig().trainer.max_epochs


def test_load_sets_name_from_file_stem_unless_given(tmp_path: Path) -> None:
    assert load(write(tmp_path, "seed: 1\n", "my_recipe.yaml")).name == "my_recipe"
    assert load(write(tmp_path, "name: explicit\n", "other.yaml")).name == "explicit"
    assert load(None).name is None


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    config = load(write(tmp_path, ""))
    assert config.model_dump(exclude={"name"}) == RunConfig().model_dump(exclude={"name"})


def test_overrides_parse_yaml_scalars_and_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  root: a\n  batch_size: 8\ntrainer:\n  max_epochs: 20\n")
    config = load(
        path,
        [
            "data.root=x",
            "trainer.max_epochs=3",
            "model.pretrained=false",
            "model.kwargs={drop_path_rate: 0.1}",
            "trainer.devices=[0, 1]",
        ],
    )
    assert config.data.root == "x"
    assert config.data.batch_size == 8  # untouched keys of an overridden section stay
    assert config.trainer.max_epochs == 3 and isinstance(config.trainer.max_epochs, int)
    assert config.model.pretrained is False
    assert config.model.kwargs == {"drop_path_rate": 0.1}
    assert config.trainer.devices == [0, 1]


def test_parse_overrides_builds_nested_dict_with_typed_values() -> None:
    parsed = parse_overrides(["a.b=1", "a.c=true", "a.d=[1, 2]", "a.e=", "f=x=y", "g.h=null", "g.i=1.5"])
    assert parsed == {"a": {"b": 1, "c": True, "d": [1, 2], "e": None}, "f": "x=y", "g": {"h": None, "i": 1.5}}


def test_parse_overrides_keeps_unparsable_yaml_as_text() -> None:
    assert parse_overrides(["data.root={unclosed"]) == {"data": {"root": "{unclosed"}}


@pytest.mark.parametrize("item", ["data.root", "=3", " =3"])
def test_override_without_key_value_form_raises(item: str) -> None:
    with pytest.raises(ConfigError, match="not of the form key=value"):
        parse_overrides([item])


def test_override_below_a_value_raises() -> None:
    with pytest.raises(ConfigError, match="'root' is a value, not a section"):
        parse_overrides(["data.root=x", "data.root.y=2"])


def test_later_override_wins() -> None:
    assert load(None, ["seed=1", "seed=2"]).seed == 2


# --- errors ---------------------------------------------------------------------------------------------------------


def test_unknown_top_level_key_names_it_and_lists_valid_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "seeed: 3\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message and "'seeed'" in message
    for key in RunConfig.model_fields:
        assert key in message.split("valid keys here:")[1]


def test_unknown_nested_key_names_the_dotted_key_and_lists_section_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'data\.rot'; valid keys here: format, .*, root, image_size"):
        load(write(tmp_path, "data:\n  rot: x\n"))


def test_unknown_override_key_is_reported_like_a_file_key() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'trainer\.max_epoch'.*max_epochs"):
        load(None, ["trainer.max_epoch=3"])


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"trainer\.max_epochs: .*integer.*'abc'"):
        load(write(tmp_path, "trainer:\n  max_epochs: abc\n"))
    with pytest.raises(ConfigError, match=r"optim\.name: .*'lion'"):
        load(None, ["optim.name=lion"])


def test_out_of_range_value_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"data\.batch_size"):
        load(None, ["data.batch_size=0"])


def test_resize_below_image_size_fails() -> None:
    with pytest.raises(ConfigError, match=r"data\.resize \(100\) must be >= data\.image_size \(224\)"):
        load(None, ["data.image_size=224", "data.resize=100"])


def test_bad_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 0\ndata:\n  root: a: b\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line 3: mapping values are not allowed here\)") as info:
        load(path)
    assert str(path) in str(info.value)


def test_non_mapping_yaml_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        load(write(tmp_path, "- a\n- b\n"))


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load(tmp_path / "missing.yaml")


def test_validate_is_usable_on_plain_dicts() -> None:
    assert validate({"model": {"name": "test_resnet"}}).model.name == "test_resnet"
    with pytest.raises(ConfigError, match=r"unknown key 'model\.nme'"):
        validate({"model": {"nme": "x"}})


def test_assignment_is_validated() -> None:
    config = RunConfig()
    with pytest.raises(ValueError, match="batch_size"):
        config.data.batch_size = -1


# --- derived values and dump ----------------------------------------------------------------------------------------


def test_resolved_resize_defaults_to_imagenet_ratio() -> None:
    assert load(None, ["data.image_size=224"]).data.resolved_resize == 256
    assert load(None, ["data.image_size=224", "data.resize=232"]).data.resolved_resize == 232


@pytest.mark.parametrize(
    ("monitor", "mode"), [("val/loss", "min"), ("val/auroc", "max"), ("val/acc", "max"), ("val/mae", "min")]
)
def test_monitor_mode_follows_the_metric(monitor: str, mode: str) -> None:
    assert load(None, [f"trainer.monitor={monitor}"]).trainer.resolved_monitor_mode == mode


def test_integer_precision_becomes_text() -> None:
    assert load(None, ["trainer.precision=16"]).trainer.precision == "16"


def test_numbers_typed_into_text_keys_stay_text() -> None:
    # list files with index labels give class names "0" and "1": the natural override must work
    cfg = validate({"data": {"positive_class": 1, "class_names": [0, 1], "root": 2024}})
    assert (cfg.data.positive_class, cfg.data.class_names, cfg.data.root) == ("1", ["0", "1"], "2024")
    typed = load(None, ["data.root=2024.10", "name=007", "data.class_names=[01, 02]", "model.pretrained_file=null",
                        "trainer.max_epochs=03", "optim.lr=1e-3"])  # fmt: skip
    assert (typed.data.root, typed.name, typed.data.class_names) == ("2024.10", "007", ["01", "02"])
    assert typed.model.pretrained_file is None and typed.trainer.max_epochs == 3 and typed.optim.lr == 0.001


def test_dump_round_trips_through_load(tmp_path: Path) -> None:
    config = load(None, ["data.root=/x", "model.kwargs={drop_path_rate: 0.1}", "trainer.devices=[0, 1]", "name=run1"])
    path = write(tmp_path, dump(config), "dumped.yaml")
    assert load(path) == config
    assert yaml.safe_load(path.read_text())["data"]["root"] == "/x"


# --- bundled recipes ------------------------------------------------------------------------------------------------


def test_recipes_are_bundled() -> None:
    names = {path.stem for path in RECIPES}
    assert {"binary_resnet18_albu", "binary_resnet50", "demo"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=[path.stem for path in RECIPES])
def test_bundled_recipe_loads_with_the_common_keys(path: Path) -> None:
    config = load(path)
    assert config.name == path.stem
    for key in COMMON_KEYS:
        get(config, key)
    assert config.data.resolved_resize >= config.data.image_size


@pytest.mark.parametrize("path", RECIPES, ids=[path.stem for path in RECIPES])
def test_bundled_recipe_uses_only_known_names(path: Path) -> None:
    from dermkit.data.transforms import PRESETS
    from dermkit.losses import LOSSES

    config = load(path)
    assert config.loss.name in LOSSES
    assert config.data.train_transform in PRESETS


@pytest.mark.parametrize("path", RECIPES, ids=[path.stem for path in RECIPES])
def test_bundled_recipe_dump_round_trips(path: Path, tmp_path: Path) -> None:
    config = load(path)
    assert load(write(tmp_path, dump(config), "copy.yaml")) == config


def test_binary_resnet18_albu_recipe_facts() -> None:
    config = load(Path(dermkit.__file__).parent / "configs" / "binary_resnet18_albu.yaml")
    assert config.loss.name == "bce"
    assert config.optim.name == "adam" and config.optim.lr == pytest.approx(2e-4)
    assert config.sched.name == "warmup_cosine" and config.sched.warmup_epochs == 2
    assert config.trainer.max_epochs == 20
    assert config.data.train_transform == "skin_classifier"
    assert config.model.head_init == "xavier"


def test_binary_resnet50_recipe_facts() -> None:
    config = load(Path(dermkit.__file__).parent / "configs" / "binary_resnet50.yaml")
    assert config.model.head == "mlp" and config.model.head_hidden == 256
    assert config.model.drop_rate == pytest.approx(0.4)
    assert config.optim.name == "sgd" and config.optim.nesterov is True
    assert config.optim.lr == pytest.approx(1e-3)
    assert config.optim.head_lr_mult == pytest.approx(5.0)
    assert config.sched.name == "plateau"
    assert config.sched.factor == pytest.approx(0.2) and config.sched.patience == 5
    assert config.trainer.max_epochs == 30
    assert config.data.image_size == 288
    assert config.trainer.monitor == "val/acc"


def test_a_key_given_twice_in_yaml_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("data:\n  root: images\nmodel:\n  name: resnet18\ndata:\n  image_size: 32\n")
    with pytest.raises(ConfigError, match=r"twice\.yaml: not valid YAML \(line 5: duplicate key 'data'\)"):
        load(path)


def test_a_bad_override_value_is_blamed_on_the_override_not_the_recipe(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text("data:\n  batch_size: 8\n")
    with pytest.raises(ConfigError, match=r"^override: data\.batch_size: .*integer.*'abc'"):
        load(path, ["data.batch_size=abc"])
    path.write_text("data:\n  batch_size: many\n")
    with pytest.raises(ConfigError, match=r"recipe\.yaml: data\.batch_size: "):
        load(path)


def test_validation_may_be_switched_off_but_training_batches_may_not() -> None:
    assert load(None, ["trainer.limit_val_batches=0"]).trainer.limit_val_batches == 0  # the benchmark uses it
    with pytest.raises(ConfigError, match=r"trainer\.limit_train_batches: Input should be greater than 0"):
        load(None, ["trainer.limit_train_batches=0"])
