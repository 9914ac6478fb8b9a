"""The authors' per-tensor gradient cosine similarities (reference for the paper's Figure 2).

File: the registered `pooling-authors-grad-cosine`
(pooling/authors_grad_cosine_similarity_by_layer.csv in the data directory), a conversion to CSV
of the printed output of cell 18 of `Pooling /analysis/Pooling_grad_analysis.ipynb`
(mehravehj/Balanced-Mixture-of-SuperNets, commit aa25882). For each saved epoch (1, 6, 16, 26, 46,
71, 101, 126, 156, 171, 196) and each of the pooling supernet's 22 weight tensors: the mean (and
std) of the off-diagonal entries of the 36x36 cosine-similarity matrix of the architectures'
flattened gradients, pooled over three runs. Which batch the gradients were taken on is not
known (see benchmarks_data/pooling/PROVENANCE.md).

Conventions here:
  * tensor names are mapped to the harness's pooling supernet (`res_blocks.` -> `layers.`,
    `authors_to_harness_name`);
  * distance = 1 - mean_cos_sim;
  * fraction of training = epoch / 200. The run length is not stated; the last saved epoch, 196,
    suggests 200 epochs (not the supplement's 300). This is an assumption.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from harness.errors import DataFileError, HarnessError

AUTHORS_GRAD_FILE = "pooling-authors-grad-cosine"
AUTHORS_RUN_EPOCHS = 200  # assumed: the notebook's last saved epoch is 196
AUTHORS_LABEL = "authors (Roshtkhari et al.), batch unknown"
COLUMNS = ("layer", "epoch", "mean_cos_sim", "std_cos_sim")

# The early conv tensors (stem + blocks 1-3, the first resolution of the usual ResNet20), in
# harness names: the pooling supernet's "early" feature set, which the density uses by default.
EARLY_TENSORS = ("layers.0.conv.weight",
                 *(f"layers.{b}.conv{c}.weight" for b in (1, 2, 3) for c in (1, 2)))


def authors_to_harness_name(layer: str) -> str:
    """The harness pooling supernet's name of one of the authors' parameters.

    `res_blocks.0.conv.weight` (stem) -> `layers.0.conv.weight`, `res_blocks.4.conv1.weight` ->
    `layers.4.conv1.weight`, `res_blocks.7.downsample.0.weight` -> `layers.7.downsample.0.weight`;
    `fc.weight` is the same in both. Any other name is an error.
    """
    layer = str(layer).strip()
    if layer.startswith("res_blocks.") and len(layer) > len("res_blocks."):
        return "layers." + layer[len("res_blocks."):]
    if layer.startswith("fc."):
        return layer
    raise HarnessError(f"'{layer}' is not a parameter name of the authors' pooling supernet "
                       "(expected res_blocks.* or fc.*)")


def load_authors_grad_cosine(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The authors' file, verified (sha256), one row per (tensor, saved epoch).

    Columns: layer (the authors' name), tensor (the harness's), epoch (as saved, 1..196),
    fraction (epoch / AUTHORS_RUN_EPOCHS, an assumption), mean_cos_sim, std_cos_sim,
    distance (1 - mean_cos_sim). Raises DataFileError when the file is missing or wrong.
    """
    from harness.benchmarks.files import KNOWN_FILES

    path = KNOWN_FILES.get(AUTHORS_GRAD_FILE).verified_path(data_dir)
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise DataFileError(f"{path}: unreadable CSV ({err})") from err
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataFileError(f"{path}: lacks columns {missing}")
    frame = frame[list(COLUMNS)].copy()
    frame["layer"] = frame["layer"].astype(str)
    for column in COLUMNS[1:]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if frame[list(COLUMNS[1:])].isna().any().any():
        raise DataFileError(f"{path}: non-numeric epoch or similarity values")
    frame["epoch"] = frame["epoch"].astype(int)
    dup = frame.duplicated(["layer", "epoch"], keep=False)
    if dup.any():
        first = frame[dup].iloc[0]
        raise DataFileError(f"{path}: {int(dup.sum())} rows repeat a (layer, epoch) pair (first: "
                            f"{first['layer']} at epoch {first['epoch']}); one row per pair: replace "
                            "the file")
    frame.insert(1, "tensor", frame["layer"].map(authors_to_harness_name))
    frame.insert(3, "fraction", frame["epoch"] / AUTHORS_RUN_EPOCHS)
    frame["distance"] = 1.0 - frame["mean_cos_sim"]
    return frame.reset_index(drop=True)


def mean_distance_by_epoch(frame: pd.DataFrame,
                           tensors: Sequence[str] = EARLY_TENSORS) -> pd.DataFrame:
    """Mean over `tensors` (harness names) of the authors' distance, per saved epoch.

    Columns: epoch, fraction, distance, n_tensors. Raises HarnessError if none of the tensors
    is in the file.
    """
    chosen = frame[frame["tensor"].isin(list(tensors))]
    if chosen.empty:
        raise HarnessError(f"none of {list(tensors)} is among the authors' tensors")
    grouped = chosen.groupby("epoch", sort=True)
    return pd.DataFrame({
        "epoch": grouped["epoch"].first().astype(int),
        "fraction": grouped["fraction"].first(),
        "distance": grouped["distance"].mean(),
        "n_tensors": grouped["tensor"].nunique().astype(int),
    }).reset_index(drop=True)


def missing_reference_message(error: Exception | None = None) -> str:
    """One line: the authors' file is not in the data directory, and how to get it."""
    from harness.benchmarks.files import KNOWN_FILES

    entry = KNOWN_FILES.get(AUTHORS_GRAD_FILE)
    if error is None or "not found" in str(error):
        what = "not found"
    elif "checksum" in str(error):
        what = "has the wrong sha256 (a different file)"
    else:
        what = f"unusable ({str(error).split(';')[0]})"
    return (f"Figure 2: authors' reference {entry.relpath} {what} in the data directory; "
            f"drawn without it (`nas-harness gt fetch {AUTHORS_GRAD_FILE}` prints where to put it)")
