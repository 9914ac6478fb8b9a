"""The evaluation options `nas-harness noise` measures, in a module that imports nothing, so the
CLI can offer them as choices without loading the study."""

from __future__ import annotations

# "average" scores the mean of the checkpoints of the last epochs (BatchNorm from the batch,
# as the default); the others the last checkpoint under that BatchNorm mode.
EVAL_OPTIONS = ("batch", "recalibrate", "running", "average")
