"""Tasks: each method is a task definition (options, outputs, post-processing, evaluation) registered in ``TASKS``,
plus a trainable module built by :meth:`Task.build`. Importing this package registers the built-in tasks without
importing torch."""

from dermkit.tasks import acne as _acne  # noqa: F401  (registers acne_ldl and acne_lds)
from dermkit.tasks import distill as _distill  # noqa: F401  (registers distill_kd, distill_dkd, distill_ssdkd...)
from dermkit.tasks import spbl as _spbl  # noqa: F401  (registers spbl)
from dermkit.tasks.base import TASKS, Built, Task, TaskOptions, get_task, register_task
from dermkit.tasks.classify import Classify, Prediction

__all__ = ["TASKS", "Built", "Classify", "Prediction", "Task", "TaskOptions", "get_task", "register_task"]
