"""The paper's experiments as data, and the code that turns cached runs into tables and figures."""

from harness.experiments.spec import EXPERIMENTS, ORDER, PROFILES, RunSpec, get_experiment, runs_for

__all__ = ["EXPERIMENTS", "ORDER", "PROFILES", "RunSpec", "get_experiment", "runs_for"]
