"""The trainable half of SPBL's CNN: a classifier whose network also returns its pooled feature.

Self-paced balance learning (Yang, Wu et al., "Self-paced balance learning for clinical skin disease recognition",
IEEE TNNLS 2020) fine-tunes the CNN with plain cross-entropy (or any softmax loss of the recipe) on each round's
selected images; the feature output feeds the SVM outside training. Its definition is :class:`dermkit.tasks.spbl.SPBL`.
"""

from __future__ import annotations

from typing import Any

import torch

from dermkit.tasks.classify_training import ClassifyTask, probabilities


class SPBLTrainingTask(ClassifyTask):
    """:class:`ClassifyTask` over a network returning ``(logits, features)``
    (:class:`dermkit.models.factory.FeatureClassifier`).

    ``forward`` returns ``{"loss", "logits", "probs", "features"}``.
    """

    name = "spbl"

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        logits, features = self.model(batch["image"])
        out = {"logits": logits, "probs": probabilities(logits, self.output), "features": features}
        if "target" in batch:
            out["loss"] = self.loss(logits, batch["target"])
        return out
