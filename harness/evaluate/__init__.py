"""Supernet scores for a list of architectures: `evaluate_run(run_dir, archs, out)`."""

from harness.evaluate.supernet_eval import bn_mode, evaluate_archs, evaluate_run, resolve_archs

__all__ = ["bn_mode", "evaluate_archs", "evaluate_run", "resolve_archs"]
