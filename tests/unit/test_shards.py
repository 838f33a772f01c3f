"""Shards and ranks: every input in exactly one shard, the rank read from the launcher's variables, and the checks
that stop a multi-process run from training on different splits or as N independent runs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from dermkit import config
from dermkit.data.records import ImageTable, Record
from dermkit.engine.ranks import RankCheck, split_fingerprint
from dermkit.engine.setup import TrainingData
from dermkit.errors import ConfigError, DataError
from dermkit.inference.shards import Group, Shard, detect_shard, on_every_rank, parse_shard, shard_indices

LAUNCHER_VARIABLES = (
    "TORCHELASTIC_RUN_ID",
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "SLURM_NTASKS",
    "SLURM_NTASKS_PER_NODE",
    "SLURM_PROCID",
    "SLURM_LOCALID",
    "SLURM_NODEID",
    "SLURM_JOB_NAME",
    "SLURM_NNODES",
)


@pytest.fixture
def no_launcher(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("layout", ["strided", "contiguous"])
def test_every_input_is_in_exactly_one_shard(layout: str) -> None:
    for n in range(12):
        for count in range(1, 6):
            parts = [shard_indices(n, index, count, layout) for index in range(count)]
            assert sorted(i for part in parts for i in part) == list(range(n)), (n, count)
            assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced to one input
            assert all(part == sorted(part) for part in parts)  # each keeps input order


def test_shard_indices_by_hand() -> None:
    assert shard_indices(7, 0, 3) == [0, 3, 6] and shard_indices(7, 2, 3) == [2, 5]
    assert [shard_indices(7, k, 3, "contiguous") for k in range(3)] == [[0, 1, 2], [3, 4], [5, 6]]
    assert Shard(1, 4).part_path("out/preds.csv") == Path("out/preds.csv.part-1-of-4")
    with pytest.raises(ConfigError, match="unknown shard layout 'random'"):
        shard_indices(3, 0, 2, "random")


def test_parse_shard_takes_k_of_n_and_refuses_the_rest() -> None:
    assert parse_shard("1/4") == Shard(1, 4) and parse_shard("0/1").label == ""
    assert parse_shard("1/4").label == "shard 1 of 4"
    for text in ("2/2", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(ConfigError, match="K/N"):
            parse_shard(text)


def test_rank_comes_from_torchrun_or_slurm_variables(no_launcher: pytest.MonkeyPatch) -> None:
    assert detect_shard() == Shard(0, 1)
    for name, value in {
        "SLURM_NTASKS": "4",
        "SLURM_NTASKS_PER_NODE": "2",
        "SLURM_PROCID": "3",
        "SLURM_LOCALID": "1",
        "SLURM_NODEID": "1",
        "SLURM_JOB_NAME": "predict",
    }.items():
        no_launcher.setenv(name, value)
    assert detect_shard() == Shard(3, 4, "SLURM") and detect_shard().label == "rank 3 of 4"
    no_launcher.setenv("SLURM_JOB_NAME", "interactive")  # Lightning's rule: an interactive allocation is no launcher
    assert detect_shard() == Shard(0, 1)
    for name, value in {
        "TORCHELASTIC_RUN_ID": "x",
        "RANK": "1",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "2",
        "LOCAL_WORLD_SIZE": "1",
        "GROUP_RANK": "1",
    }.items():
        no_launcher.setenv(name, value)
    assert detect_shard() == Shard(1, 2, "torchrun")


def test_slurm_tasks_without_tasks_per_node_is_one_config_error(no_launcher: pytest.MonkeyPatch) -> None:
    no_launcher.setenv("SLURM_NTASKS", "2")
    no_launcher.setenv("SLURM_JOB_NAME", "job")
    with pytest.raises(ConfigError, match=r"SLURM: .*--ntasks-per-node"):
        detect_shard()


def test_a_one_process_trainer_under_a_launcher_of_two_is_refused(
    tmp_path: Path, no_launcher: pytest.MonkeyPatch
) -> None:
    from dermkit.engine.trainer import make_trainer

    cfg = config.load(None, ["data.root=/x", "trainer.accelerator=cpu"])
    for name, value in {
        "TORCHELASTIC_RUN_ID": "x",
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "2",
        "LOCAL_WORLD_SIZE": "1",
        "GROUP_RANK": "0",
    }.items():
        no_launcher.setenv(name, value)
    with pytest.raises(ConfigError, match=r"job has 2 processes \(torchrun's WORLD_SIZE\) but trainer\.num_nodes"):
        make_trainer(cfg, tmp_path, [])


def test_num_nodes_and_sync_batchnorm_reach_the_lightning_trainer(
    tmp_path: Path, no_launcher: pytest.MonkeyPatch
) -> None:
    from dermkit.engine.trainer import make_trainer

    overrides = [
        "data.root=/x",
        "trainer.accelerator=cpu",
        "trainer.num_nodes=3",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "trainer.sync_batchnorm=true",
    ]
    trainer = make_trainer(config.load(None, overrides), tmp_path, [])
    assert trainer.num_nodes == 3 and trainer.world_size == 6
    assert type(trainer.strategy._layer_sync).__name__ == "TorchSyncBatchNorm"
    with pytest.raises(ConfigError, match=r"trainer\.num_nodes"):
        config.load(None, ["trainer.num_nodes=0"])


def _data(val_names: tuple[str, ...]) -> TrainingData:
    records = [Record(Path(f"/d/{name}.jpg"), label=i % 2) for i, name in enumerate("abcdef")]
    val = [r for r in records if r.path.stem in val_names]
    train = [r for r in records if r.path.stem not in val_names]
    return TrainingData(ImageTable(train, ["a", "b"]), ImageTable(val, ["a", "b"]), ["a", "b"], "/d", "held out")


def test_split_fingerprint_changes_when_one_image_changes_side() -> None:
    assert split_fingerprint(_data(("a", "b"))) == split_fingerprint(_data(("a", "b")))
    assert split_fingerprint(_data(("a", "b"))) != split_fingerprint(_data(("a", "c")))


class _Strategy:
    """Rank 1 of two, where rank 0 holds another split: what broadcast and the shared decision return."""

    def __init__(self, rank0: str) -> None:
        self.rank0 = rank0

    def broadcast(self, value: str, src: int = 0) -> str:
        return self.rank0

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        return decision


def test_rank_check_stops_a_rank_that_read_another_split() -> None:
    check = RankCheck(_data(("a", "b")))
    trainer = SimpleNamespace(world_size=2, global_rank=1, node_rank=1, strategy=_Strategy(check.fingerprint))
    check.setup(trainer, None, "fit")  # the same split: nothing happens
    trainer.strategy = _Strategy(split_fingerprint(_data(("a", "c"))))
    with pytest.raises(DataError, match=r"rank 1 of 2 \(node 1\): the ranks read different training data .* shares"):
        check.setup(trainer, None, "fit")


class _TwoRanks(Group):
    """Rank 0 of two, whose partner reports ``status`` at the gather."""

    def __init__(self, status: str | None) -> None:
        super().__init__(Shard(0, 2, "torchrun"), True)
        self.status = status

    def gather(self, value: object, wait: object = None) -> list:
        return [value, self.status]


def test_a_failed_rank_fails_every_rank_with_its_message() -> None:
    assert on_every_rank(_TwoRanks(None), lambda: 7) == 7
    with pytest.raises(DataError, match="rank 1 of 2 failed, so the parts were not merged: disk full"):
        on_every_rank(_TwoRanks("disk full"), lambda: 7)
    with pytest.raises(ZeroDivisionError):  # the failing rank raises its own error
        on_every_rank(_TwoRanks(None), lambda: 1 / 0)
