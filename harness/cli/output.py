"""Output helpers every command shares; this module imports no command."""

from __future__ import annotations

import json
import math

import click


def json_safe(obj):
    """`obj` with every NaN or infinity replaced by None, so the JSON is strict."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def echo_json(obj) -> None:
    """Print strict JSON (no NaN or Infinity: null instead)."""
    click.echo(json.dumps(json_safe(obj), indent=2, sort_keys=False, default=str, allow_nan=False))
