"""Tasks: plain modules returning ``{"loss", "logits", ...}``; the engine drives any of them."""

from dermkit.tasks.base import TASKS, Task, create_task
from dermkit.tasks.classify import ClassifyTask, probabilities

__all__ = ["TASKS", "ClassifyTask", "Task", "create_task", "probabilities"]
