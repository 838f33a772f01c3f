"""Stop training at the first NaN or infinite loss, or skip up to ``trainer.skip_nonfinite`` such batches.

A non-finite loss means the run has diverged (a learning rate too high, exploding gradients, an fp16 overflow) or met
one poisonous batch. Training on would turn every weight into NaN, overwrite ``last.ckpt`` with them and fail only at
export, hours later. :class:`NonFiniteGuard` checks each training loss before its backward pass: by default the first
non-finite one stops the run with one line naming the epoch, step and learning rate, while the checkpoints written
before it stay as they are; with ``skip_limit=N`` up to N such batches are skipped (no weight changes, batch-norm
statistics restored), each with a warning, and the next one stops the run. Under DDP the processes vote (an
all-reduce of one number per step), so they skip or stop together and none waits for another forever. A checkpoint
whose weights are not finite (a finite loss with exploding gradients) is refused the same way, before it is written.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning as L
import torch

from dermkit.errors import NonFiniteLossError

log = logging.getLogger("dermkit")

REMEDIES = "try a lower optim.lr, trainer.gradient_clip_val=1.0, or fp32 (trainer.precision=32)"
SKIP_HINT = "; trainer.skip_nonfinite=N skips up to N such batches"


class NonFiniteGuard:
    """The non-finite-loss policy of one training run.

    Args:
        skip_limit: how many non-finite batches to skip before stopping (0: stop at the first).

    Attributes:
        skipped: batches skipped so far (restored from a checkpoint on ``--resume``).
        saved_epoch: the last epoch (1-based) whose checkpoint was written, if any.
        drop_step: set by the caller when a skipped batch still takes part in an optimiser step (DDP): the step
            must change nothing.
    """

    def __init__(self, skip_limit: int = 0) -> None:
        if skip_limit < 0:
            raise ValueError(f"skip_limit must be >= 0, got {skip_limit}")
        self.skip_limit = skip_limit
        self.skipped = 0
        self.saved_epoch: int | None = None
        self.drop_step = False
        self._buffers: list[torch.Tensor] = []

    def before_forward(self, module: L.LightningModule) -> None:
        """Remember the buffers (batch-norm running statistics) a skipped batch's forward pass would spoil."""
        if self.skip_limit > self.skipped:
            self._buffers = [buffer.detach().clone() for buffer in module.buffers()]

    def should_skip(self, module: L.LightningModule, loss: torch.Tensor | None) -> bool:
        """Whether to skip this batch; raises :class:`NonFiniteLossError` when the run must stop.

        ``loss`` is None on a process with nothing to train on (all images unreadable): under DDP it still votes.
        """
        local_bad = loss is not None and not bool(torch.isfinite(loss.detach()).all())
        bad = local_bad
        if module.trainer.world_size > 1:  # every process must reach the same verdict, or one waits forever
            vote = torch.tensor(float(local_bad), device=module.device)
            bad = bool(module.trainer.strategy.reduce(vote, reduce_op="sum") > 0)
        if not bad:
            return False
        value = f"{loss.detach().float().sum().item()}" if local_bad and loss is not None else "not finite"
        where = f"the training loss is {value} at {_position(module)}"
        if self.skipped >= self.skip_limit:
            before = f" after skipping {self.skipped} such batches (trainer.skip_nonfinite)" if self.skipped else ""
            raise NonFiniteLossError(
                f"{where}: training stopped{before}; {self._checkpoint_note()}; {self._remedies()}"
            )
        self.skipped += 1
        if loss is not None:  # this process ran the forward pass: undo its batch-norm updates
            with torch.no_grad():
                for buffer, saved in zip(module.buffers(), self._buffers, strict=False):
                    buffer.copy_(saved)
        self._buffers = []
        if module.trainer.is_global_zero:
            log.warning(
                "%s: batch skipped (%d of at most %d, trainer.skip_nonfinite)", where, self.skipped, self.skip_limit
            )
        return True

    def check_checkpoint(self, module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        """Refuse to save weights that are not finite; remember the epoch of a checkpoint that is saved."""
        state = checkpoint.get("state_dict", {})
        if any(t.is_floating_point() and not bool(torch.isfinite(t).all()) for t in state.values()):
            raise NonFiniteLossError(
                f"the weights became NaN or infinite by {_position(module)}: training stopped before saving them; "
                f"{self._checkpoint_note()}; {self._remedies()}"
            )
        checkpoint["dermkit_nonfinite_skipped"] = self.skipped
        self.saved_epoch = int(checkpoint.get("epoch", module.current_epoch)) + 1

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue counting from a resumed checkpoint."""
        self.skipped = int(checkpoint.get("dermkit_nonfinite_skipped", 0))
        self.saved_epoch = int(checkpoint.get("epoch", 0)) + 1

    def _remedies(self) -> str:
        return REMEDIES + ("" if self.skip_limit else SKIP_HINT)

    def _checkpoint_note(self) -> str:
        if self.saved_epoch is None:
            return "no checkpoint had been saved yet"
        return f"last.ckpt from epoch {self.saved_epoch} is kept (resume or inspect it)"


def _position(module: L.LightningModule) -> str:
    """``epoch E of N, step S (learning rate L)``, 1-based, with the optimiser's current learning rate(s)."""
    trainer = module.trainer
    rates = sorted({group["lr"] for optimizer in trainer.optimizers for group in optimizer.param_groups})
    text = ", ".join(f"{rate:.3g}" if math.isfinite(rate) else str(rate) for rate in rates) or "unknown"
    label = "learning rates" if len(rates) > 1 else "learning rate"
    return f"epoch {trainer.current_epoch + 1} of {trainer.max_epochs}, step {trainer.global_step + 1} ({label} {text})"
