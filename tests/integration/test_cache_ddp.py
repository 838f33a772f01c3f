"""`data.cache=auto` under DDP: two CPU processes (gloo) start together; one builds the cache, both read it right."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data.distributed import DistributedSampler

from dermkit.data import read_dataset
from dermkit.data.cache import read_manifest
from dermkit.data.cache_auto import cached_tables
from dermkit.data.dataset import ImageDataset, make_loader
from dermkit.data.loaders import create_dataset
from dermkit.data.preprocess import Preprocess

pytestmark = pytest.mark.slow
PREPROCESS = Preprocess(40, 48)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank(rank: int, world: int, port: int, data: str, caches: str, out: str) -> None:
    """One DDP process: race the other to the cache, then read this rank's shard of the training records."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), DERMKIT_CACHE_DIR=caches)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    table = read_dataset(data)
    dist.barrier()  # both ask for the (missing) cache at the same moment
    (train,) = cached_tables([table], "auto", PREPROCESS)
    dataset = create_dataset(train.records, PREPROCESS, None, lambda r: {"target": r.label})
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)
    seen = {}
    for batch in make_loader(dataset, 8, sampler=sampler):
        for index, image in zip(batch["index"].tolist(), batch["image"], strict=True):
            seen[index] = image.clone()
    stores = sorted({record.pixels[0] for record in train.records})
    torch.save({"seen": seen, "stores": stores, "kind": type(dataset).__name__}, Path(out) / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


def test_two_ddp_processes_build_the_cache_once_and_read_their_shards(synth_dir: Path, tmp_path: Path) -> None:
    data, caches = synth_dir / "manifest.csv", tmp_path / "caches"
    mp.spawn(_rank, args=(2, _free_port(), str(data), str(caches), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    assert ranks[0]["kind"] == ranks[1]["kind"] == "BatchArrayDataset"
    assert ranks[0]["stores"] == ranks[1]["stores"]  # one build: a second would have written new store names
    (folder,) = [path for path in caches.iterdir() if path.is_dir()]
    assert read_manifest(folder)["reused"] == 0
    train = read_dataset(data)
    reference = ImageDataset(train.records, PREPROCESS)
    seen = {**ranks[0]["seen"], **ranks[1]["seen"]}
    assert sorted(seen) == list(range(len(train)))  # the two shards cover every training image
    assert set(ranks[0]["seen"]).isdisjoint(ranks[1]["seen"]) or len(train) % 2  # padding repeats one at most
    for index, image in seen.items():
        assert np.array_equal(image.numpy(), reference[index]["image"].numpy())
