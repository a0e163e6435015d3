"""Tests for compare_gan/metrics/tasks.py: each task's one gin name serves gin, TASKS and cards."""

import gin
import pytest

from compare_gan.metrics import tasks


@gin.configurable("tasks_test_holder")
def _holder(task=gin.REQUIRED):
  """Something to bind `@name()` to: returns the task gin built."""
  return task


def test_tasks_table_lists_every_task_under_its_gin_name():
  assert list(tasks.TASKS) == ["fid_score", "inception_score", "kid_score", "ms_ssim",
                               "prd_score", "precision_recall", "density_coverage",
                               "sliced_wasserstein", "mode_metrics", "polygon_prf"]
  for name, cls in tasks.TASKS.items():
    assert cls.gin_name == name and issubclass(cls, tasks.Task)


@pytest.mark.parametrize("name", list(tasks.TASKS))
def test_gin_reference_builds_the_registered_class(name):
  gin.parse_config(f"tasks_test_holder.task = @{name}()")
  task = _holder()
  assert type(task) is tasks.TASKS[name]
  assert task.card()["task"] == name


def test_errors_use_the_gin_name():
  with pytest.raises(ValueError, match=r"^precision_recall\.features='images'"):
    tasks.PrecisionRecall(features="images")
