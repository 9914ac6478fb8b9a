"""`nas-harness ls [KIND]`: every registry of the harness, by name."""

from __future__ import annotations

import click

from harness.cli.options import json_option
from harness.cli.output import echo_json

KINDS = ("spaces", "benchmarks", "metrics", "samplers", "experiments", "profiles", "key-formats",
         "networks", "datasets", "ground-truth-files", "density-estimators", "density-mappings",
         "search-strategies", "mutations", "topk-families", "bench-sections")


# The plain kinds: (module that fills the registry, the registry's name in that module).
_REGISTRIES = {
    "networks": ("harness.nets.common", "NETS"),
    "datasets": ("harness.data.datasets", "DATASETS"),
    "ground-truth-files": ("harness.benchmarks.files", "KNOWN_FILES"),
    "density-estimators": ("harness.density.estimators", "ESTIMATORS"),
    "density-mappings": ("harness.density.mapping", "MAPPINGS"),
    "search-strategies": ("harness.search", "SEARCHES"),
    "mutations": ("harness.search.strategies", "MUTATIONS"),
    "topk-families": ("harness.analysis.metrics", "TOPK_FAMILIES"),
    "bench-sections": ("harness.perf", "SECTIONS"),
}


def _registry(kind: str):
    """The registry behind one of the plain kinds (imported on demand: each costs its package)."""
    import importlib

    module_name, attribute = _REGISTRIES[kind]
    return getattr(importlib.import_module(module_name), attribute)


def _describe(entry) -> str:
    """An entry's description, else the first line of its docstring."""
    text = getattr(entry, "description", None) or getattr(entry, "definition", None)
    if not text:
        doc = getattr(entry, "__doc__", None) or ""
        text = doc.strip().split("\n")[0]
    return str(text)


def list_items(kind: str) -> list[dict]:
    if kind == "spaces":
        from harness.spaces import SPACES, get_space

        return [
            {"name": n, "size": get_space(n).size, "description": get_space(n).description}
            for n in SPACES
        ]
    if kind == "benchmarks":
        from harness.benchmarks import BENCHMARKS

        return [
            {"name": n, "space": BENCHMARKS.get(n).space, "description": BENCHMARKS.get(n).description}
            for n in BENCHMARKS
        ]
    if kind == "metrics":
        from harness.analysis.metrics import list_metrics

        return [
            {"name": m.name, "higher_is_better": m.higher_is_better, "definition": m.definition}
            for m in list_metrics()
        ]
    if kind == "key-formats":
        from harness.spaces.formats import KEY_FORMATS

        return [{"name": n, "space": KEY_FORMATS.get(n).space,
                 "description": f"{KEY_FORMATS.get(n).space}: {KEY_FORMATS.get(n).description}"
                                f" (order from {KEY_FORMATS.get(n).source})"}
                for n in KEY_FORMATS]
    if kind == "experiments":
        from harness.experiments.spec import experiment_names, get_experiment, runs_for
        from harness.profiles import profile_names

        return [{"name": n, "description": get_experiment(n).title,
                 "runs": {p: len(runs_for(n, p)) for p in profile_names()}}
                for n in experiment_names()]
    if kind == "profiles":
        from harness.profiles import get_profile, profile_names

        return [{"name": n, "description": get_profile(n).description,
                 "benchmarks": dict(get_profile(n).benchmarks), "seeds": list(get_profile(n).seeds)}
                for n in profile_names()]
    if kind == "samplers":
        from harness.samplers import SAMPLERS

        return [{"name": n, "description": SAMPLERS.get(n).description,
                 "options": SAMPLERS.get(n).Options.describe()} for n in SAMPLERS]
    registry = _registry(kind)
    return [{"name": n, "description": _describe(registry.get(n))} for n in registry]


def register(cli: click.Group) -> None:
    @cli.command("ls")
    @click.argument("kind", type=click.Choice(KINDS), required=False)
    @json_option
    def ls(kind: str | None, as_json: bool) -> None:
        """List what is registered: every registry, or one KIND."""
        kinds = [kind] if kind else list(KINDS)
        listing = {k: list_items(k) for k in kinds}
        if as_json:
            echo_json(listing[kind] if kind else listing)
            return
        for k in kinds:
            click.echo(f"{k}:")
            for item in listing[k]:
                extra = item.get("description") or item.get("definition", "")
                hib = ""
                if "higher_is_better" in item:
                    hib = " (higher is better)" if item["higher_is_better"] else " (lower is better)"
                runs = item.get("runs")
                if runs:
                    extra += " (runs: " + ", ".join(f"{p} {n}" for p, n in runs.items()) + ")"
                click.echo(f"  {item['name']:<22} {extra}{hib}")
                for opt in item.get("options") or []:
                    default = "null" if opt["default"] is None else opt["default"]
                    click.echo(f"      {opt['name']}={default}  ({opt['type']}) {opt['help']}")
