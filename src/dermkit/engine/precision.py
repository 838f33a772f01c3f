"""``trainer.precision=auto``: bfloat16 autocast where it pays, judged on the machine that trains.

Whether bf16 pays on a CPU depends on the CPU and the network, in both directions: on one 2-core AMD EPYC
(AVX512-BF16) the DermaMNIST recipe's training step ran 1.69x faster in bf16-mixed than in float32, while on the
Xeon this project was first built on, 28-px ResNets trained 2-7x slower in bf16. So ``auto`` times a few training
steps of the run's own network on a batch of the run's shape, once in each precision, and keeps ``bf16-mixed`` only
when it is at least :data:`MIN_SPEEDUP` times faster. On CUDA, where mixed precision is the standard choice,
``auto`` is ``bf16-mixed`` (``16-mixed`` on GPUs without bf16) without measuring. Runs of several processes on CPU
train in float32: each process would measure on its own, on contended cores, and could choose differently.
"""

from __future__ import annotations

import copy
import logging
import statistics
import time

import torch

from dermkit.config import RunConfig
from dermkit.inference.shards import cluster_environment

__all__ = ["MIN_SPEEDUP", "resolve_precision", "training_step_rate", "with_resolved_precision"]

log = logging.getLogger("dermkit")

MIN_SPEEDUP = 1.15  # bf16 must beat float32 by this factor: the measurement is short, and bf16 rounds the activations


def training_step_rate(
    model: torch.nn.Module, batch: torch.Tensor, *, bf16: bool, channels_last: bool = False, steps: int = 3
) -> float:
    """Images per second of forward + backward passes of ``model`` on ``batch``: the median of ``steps`` timed
    passes after one warm-up pass. A copy of the model runs (NHWC with ``channels_last``), so the weights, gradients
    and batch-norm statistics of ``model`` are left as they were."""
    model = copy.deepcopy(model).train()
    if channels_last:
        model, batch = model.to(memory_format=torch.channels_last), batch.to(memory_format=torch.channels_last)
    timings = []
    for step in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(batch)
        outputs = out if isinstance(out, tuple) else (out,)
        sum(o.float().sum() for o in outputs).backward()
        if step:
            timings.append(time.perf_counter() - start)
    return len(batch) / statistics.median(timings)


def resolve_precision(
    precision: str,
    model: torch.nn.Module,
    input_shape: tuple[int, int, int, int],
    *,
    accelerator: str = "auto",
    processes: int = 1,
    channels_last: bool = False,
) -> tuple[str, str | None]:
    """The Lightning precision to train with, and a line saying how ``auto`` was resolved (None otherwise).

    Measuring costs about eight training steps of the run's batch (seconds for small images; for ResNet-50 at 224 px
    on a CPU, minutes of a run of hours).

    Args:
        precision: ``trainer.precision``; anything but ``auto`` is returned unchanged (Lightning judges it).
        model: the run's network.
        input_shape: one training batch, ``(batch, channels, height, width)``.
        accelerator: ``trainer.accelerator``.
        processes: ``trainer.devices x trainer.num_nodes`` (or the launcher's world size).
        channels_last: time the network in NHWC order, as the run will train it.
    """
    if precision != "auto":
        return precision, None
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        chosen = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        return chosen, f"trainer.precision=auto: {chosen} on the GPU"
    if accelerator not in ("auto", "cpu") or (accelerator == "auto" and torch.backends.mps.is_available()):
        return "32-true", f"trainer.precision=auto: 32-true on accelerator {accelerator!r} (only CPUs are measured)"
    env = cluster_environment()
    if max(processes, env.world_size() if env is not None else 1) > 1:
        return "32-true", "trainer.precision=auto: 32-true (a run of several processes on CPU is not measured)"
    batch = torch.randn(input_shape)
    fp32 = training_step_rate(model, batch, bf16=False, channels_last=channels_last)
    bf16 = training_step_rate(model, batch, bf16=True, channels_last=channels_last)
    chosen = "bf16-mixed" if bf16 >= MIN_SPEEDUP * fp32 else "32-true"
    return chosen, (
        f"trainer.precision=auto: {chosen} (a training step ran {bf16 / fp32:.2f}x as fast in bf16-mixed as in "
        f"float32 on this CPU: {bf16:.0f} against {fp32:.0f} img/s)"
    )


def with_resolved_precision(config: RunConfig, model: torch.nn.Module) -> RunConfig:
    """``config`` with ``trainer.precision=auto`` resolved for ``model`` (see :func:`resolve_precision`), the
    choice logged; other precisions leave ``config`` as it is."""
    t, d = config.trainer, config.data
    devices = t.devices
    if isinstance(devices, str):
        devices = int(devices) if devices.lstrip("-").isdigit() else 1  # "auto": one process on CPU
    per_node = len(devices) if isinstance(devices, list) else (2 if devices == -1 else devices)  # -1: every device
    precision, line = resolve_precision(
        t.precision, model, (d.batch_size, 3, d.image_size, d.image_size), accelerator=t.accelerator,
        processes=per_node * t.num_nodes, channels_last=t.channels_last,
    )  # fmt: skip
    if line is None:
        return config
    log.info("%s", line)
    return config.model_copy(update={"trainer": t.model_copy(update={"precision": precision})})
