"""nas-harness: evaluate one-shot NAS sampling strategies against published ground truth."""

__version__ = "0.1.0"
