"""Figure 2 against the authors: name mapping, the registered reference file, the overlay table
and the figure, on synthetic snapshots (no training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.benchmarks.base import resolve_data_dir
from harness.benchmarks.files import KNOWN_FILES, fetch
from harness.benchmarks.reference import (
    AUTHORS_GRAD_FILE,
    EARLY_TENSORS,
    authors_to_harness_name,
    load_authors_grad_cosine,
    mean_distance_by_epoch,
)
from harness.errors import DataFileError, HarnessError
from harness.experiments import figures
from harness.io import sha256_of
from harness.rundir import RunDir

SHA256 = "9d90a1b5e9e6d3b7eb8444d123ac2fa61999a56dd8ae076690e765de2ad9339f"
RELPATH = "pooling/authors_grad_cosine_similarity_by_layer.csv"
AUTHORS_EPOCHS = [1, 6, 16, 26, 46, 71, 101, 126, 156, 171, 196]


def pooling_tensors() -> list[str]:
    from harness.nets.pooling import NetConfig, PoolingSupernet

    return [name for name, _ in PoolingSupernet(NetConfig()).weight_tensors()]


# The pooling supernet's 22 weight tensors in forward order (checked against the net below).
TENSORS = (["layers.0.conv.weight"]
           + [f"layers.{b}.conv{c}.weight" for b in (1, 2, 3) for c in (1, 2)]
           + ["layers.4.conv1.weight", "layers.4.conv2.weight", "layers.4.downsample.0.weight"]
           + [f"layers.{b}.conv{c}.weight" for b in (5, 6) for c in (1, 2)]
           + ["layers.7.conv1.weight", "layers.7.conv2.weight", "layers.7.downsample.0.weight"]
           + [f"layers.{b}.conv{c}.weight" for b in (8, 9) for c in (1, 2)]
           + ["fc.weight"])


def reference_path() -> Path:
    return resolve_data_dir() / RELPATH


needs_file = pytest.mark.skipif(not reference_path().is_file(),
                                reason=f"{RELPATH} not in the data directory (HARNESS_DATA_DIR)")


def value(epoch: int, i: int, side: str) -> float:
    return 0.1 + 0.01 * i + 0.02 * epoch + (0.05 if side == "train" else 0.0)


def write_snapshots(run_dir: Path, epochs: int = 10, tensors=TENSORS, new_format: bool = True,
                    config_epochs: int | None = None) -> Path:
    """A snapshot for every epoch, as the debiased sampler writes them."""
    rd = RunDir(run_dir)
    if config_epochs is not None:
        rd.write_config({"config": {"epochs": config_epochs}})
    for epoch in range(epochs):
        snap = {
            "epoch": epoch,
            "per_layer_mean_distance_probe": {t: value(epoch, i, "probe")
                                              for i, t in enumerate(tensors)},
            "per_layer_mean_distance_train": {t: value(epoch, i, "train")
                                              for i, t in enumerate(tensors)},
            "feature_tensors": list(EARLY_TENSORS),
            "feature_mean_distance": None,
            "figure_keys": [f"k{i}" for i in range(36)],
        }
        if new_format:
            snap.update(epochs=epochs, fraction_of_training=(epoch + 1) / epochs)
        rd.write_snapshot(epoch, snap)
    return run_dir


def assert_png(path: Path) -> None:
    assert path.is_file() and path.read_bytes()[:4] == b"\x89PNG"
    with Image.open(path) as image:
        assert image.width >= 1200 and image.height >= 600
    assert not list(path.parent.glob(f".{path.stem}.*")), "temporary file left behind"


# ---------------------------------------------------------------------------- names


def test_authors_names_map_to_harness_names():
    assert authors_to_harness_name("res_blocks.0.conv.weight") == "layers.0.conv.weight"
    assert authors_to_harness_name("res_blocks.5.conv2.weight") == "layers.5.conv2.weight"
    assert (authors_to_harness_name("res_blocks.7.downsample.0.weight")
            == "layers.7.downsample.0.weight")
    assert authors_to_harness_name("fc.weight") == "fc.weight"
    for bad in ("layers.0.conv.weight", "res_blocks.", "conv1.weight"):
        with pytest.raises(HarnessError, match="not a parameter name"):
            authors_to_harness_name(bad)
    # the early set is the pooling supernet's "early" feature set (what the density uses)
    assert list(EARLY_TENSORS) == TENSORS[:7]


# ---------------------------------------------------------------------------- the registered file


def test_registered_entry_is_never_downloaded(tmp_path):
    entry = KNOWN_FILES.get(AUTHORS_GRAD_FILE)
    assert entry.sha256 == SHA256 and entry.relpath == RELPATH
    assert "aa25882" in entry.url and "Pooling_grad_analysis.ipynb" in entry.url
    with pytest.raises(DataFileError, match="not downloaded automatically.*cell 18"):
        fetch(AUTHORS_GRAD_FILE, data_dir=tmp_path)  # offline-safe: raises before any network
    assert not (tmp_path / RELPATH).exists()


@needs_file
def test_registered_file_checksum_and_loader():
    entry = KNOWN_FILES.get(AUTHORS_GRAD_FILE)
    assert sha256_of(entry.verified_path()) == SHA256
    frame = load_authors_grad_cosine()
    assert len(frame) == 242
    assert frame["tensor"].nunique() == 22
    assert list(dict.fromkeys(frame["tensor"])) == TENSORS == pooling_tensors()
    assert (frame.groupby("tensor")["epoch"].apply(sorted).map(lambda e: e == AUTHORS_EPOCHS)
            .all())
    assert np.allclose(frame["fraction"], frame["epoch"] / 200)
    assert np.allclose(frame["distance"], 1 - frame["mean_cos_sim"])
    raw = pd.read_csv(reference_path())
    assert np.array_equal(frame["mean_cos_sim"].to_numpy(), raw["mean_cos_sim"].to_numpy())


@needs_file
def test_loader_rejects_a_different_file(tmp_path):
    target = tmp_path / RELPATH
    target.parent.mkdir(parents=True)
    target.write_text(reference_path().read_text().replace("0.5571", "0.5572"))
    with pytest.raises(DataFileError, match="wrong checksum"):
        load_authors_grad_cosine(tmp_path)


@needs_file
def test_authors_early_means_match_the_published_shape():
    frame = load_authors_grad_cosine()
    blocks = [t for t in EARLY_TENSORS if t != "layers.0.conv.weight"]  # blocks 1-3 conv tensors
    mean = mean_distance_by_epoch(frame, blocks).set_index("epoch")
    assert (mean["n_tensors"] == 6).all()
    assert mean.at[1, "distance"] == pytest.approx(0.45, abs=0.01)
    for epoch in (6, 16):
        assert 0.13 <= mean.at[epoch, "distance"] <= 0.17
    assert mean.at[196, "distance"] > mean.at[16, "distance"] + 0.05  # more orthogonal again
    early = mean_distance_by_epoch(frame).set_index("epoch")  # stem + blocks 1-3
    assert (early["n_tensors"] == 7).all()
    assert early.at[1, "distance"] == pytest.approx(0.45, abs=0.01)
    # PROVENANCE: mean similarity over the 21 conv tensors 0.70 at epoch 1, 0.85 at 16, 0.69 at 196
    conv = mean_distance_by_epoch(frame, [t for t in TENSORS if t != "fc.weight"])
    similarity = 1 - conv.set_index("epoch")["distance"]
    assert similarity[[1, 16, 196]].round(2).tolist() == [0.70, 0.85, 0.69]
    assert similarity.idxmax() == 16


# ---------------------------------------------------------------------------- overlay table


@needs_file
def test_overlay_table_pairs_each_snapshot_with_the_nearest_authors_epoch(tmp_path):
    run = write_snapshots(tmp_path / "run", epochs=10)
    table = figures.fig2_overlay_table(run)
    assert set(table["batch"]) == {"train", "probe"}
    assert len(table) == 2 * 10 * (22 + 1)
    raw = pd.read_csv(reference_path())
    raw_dist = {(r.layer.replace("res_blocks.", "layers.", 1), r.epoch): 1 - r.mean_cos_sim
                for r in raw.itertuples()}
    for row in table[table["tensor"] != figures.EARLY_MEAN].itertuples():
        i = TENSORS.index(row.tensor)
        assert row.fraction == pytest.approx((row.epoch + 1) / 10)
        assert row.harness_distance == pytest.approx(value(row.epoch, i, row.batch))
        nearest = min(AUTHORS_EPOCHS, key=lambda e: abs(e / 200 - row.fraction))
        assert row.authors_epoch == nearest
        assert row.authors_distance == pytest.approx(raw_dist[(row.tensor, nearest)])
    early = table[(table["tensor"] == figures.EARLY_MEAN) & (table["batch"] == "probe")]
    first = early.set_index("epoch").loc[0]
    assert first["fraction"] == pytest.approx(0.1)
    assert first["harness_distance"] == pytest.approx(np.mean([value(0, i, "probe")
                                                               for i in range(7)]))
    assert first["authors_epoch"] == 16  # 16/200 = 0.08 is nearest to 0.1
    assert first["authors_distance"] == pytest.approx(
        np.mean([raw_dist[(t, 16)] for t in EARLY_TENSORS]))
    summary = figures.early_mean_summary(table, after_fraction=0.25)
    probe = early[early["fraction"] > 0.25]
    assert summary.at["probe", "n_snapshots"] == 8
    assert summary.at["probe", "harness_mean"] == pytest.approx(probe["harness_distance"].mean())
    assert summary.at["probe", "authors_min"] == pytest.approx(probe["authors_distance"].min())
    assert summary.at["probe", "authors_max"] == pytest.approx(probe["authors_distance"].max())
    assert 0.14 <= summary.at["probe", "authors_min"] < summary.at["probe", "authors_max"] <= 0.26


def test_overlay_table_without_the_reference(tmp_path, capsys):
    run = write_snapshots(tmp_path / "run", epochs=4)
    table = figures.fig2_overlay_table(run, data_dir=tmp_path / "no-data")
    assert table["authors_distance"].isna().all() and table["authors_epoch"].isna().all()
    assert table["harness_distance"].notna().all()
    assert "not found" in capsys.readouterr().err
    assert figures.fig2_overlay_table(run, reference=False)["authors_distance"].isna().all()
    assert capsys.readouterr().err == ""


def test_fraction_of_training_falls_back_for_older_snapshots(tmp_path):
    with_config = write_snapshots(tmp_path / "a", epochs=4, new_format=False, config_epochs=10)
    table = figures.fig2_overlay_table(with_config, reference=False)
    assert sorted(table["fraction"].unique()) == pytest.approx([0.1, 0.2, 0.3, 0.4])
    _, total, note = figures._training_fractions(with_config, figures.load_snapshots(with_config))
    assert total == 10 and RunDir.CONFIG in note
    bare = write_snapshots(tmp_path / "b", epochs=4, new_format=False)
    table = figures.fig2_overlay_table(bare, reference=False)
    assert sorted(table["fraction"].unique()) == pytest.approx([0.25, 0.5, 0.75, 1.0])
    _, total, note = figures._training_fractions(bare, figures.load_snapshots(bare))
    assert total == 4 and "unknown" in note
    new = write_snapshots(tmp_path / "c", epochs=4, config_epochs=99)  # snapshots win
    _, total, note = figures._training_fractions(new, figures.load_snapshots(new))
    assert total == 4 and note == ""


# ---------------------------------------------------------------------------- the figure


@needs_file
def test_figure_with_the_authors_overlay(tmp_path, capsys):
    run = write_snapshots(tmp_path / "run", epochs=10)
    with_ref = figures.fig2_layer_distances(run, tmp_path / "fig2.png")
    assert with_ref == tmp_path / "fig2.png"
    assert_png(with_ref)
    assert capsys.readouterr().err == ""
    plain = figures.fig2_layer_distances(run, tmp_path / "plain.png", reference=False)
    assert_png(plain)
    assert with_ref.read_bytes() != plain.read_bytes()  # the overlay was drawn


def test_figure_without_the_reference_file(tmp_path, capsys):
    run = write_snapshots(tmp_path / "run", epochs=10)
    out = figures.fig2_layer_distances(run, tmp_path / "fig2.png", data_dir=tmp_path / "no-data")
    assert_png(out)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "not found" in err[0] and f"nas-harness gt fetch {AUTHORS_GRAD_FILE}" in err[0]
    # older snapshots, another space's tensor names: still drawn (no overlay, no mean of stem+1-3)
    other = write_snapshots(tmp_path / "other", epochs=3, tensors=["cells.0.a", "cells.1.b"],
                            new_format=False)
    assert_png(figures.fig2_layer_distances(other, tmp_path / "other.png",
                                            data_dir=tmp_path / "no-data"))


def test_no_snapshots_is_a_harness_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HarnessError, match="empty: no snapshots"):
        figures.fig2_layer_distances(empty, tmp_path / "x.png", reference=False)
    with pytest.raises(HarnessError, match="no snapshots"):
        figures.fig2_overlay_table(empty)
    assert not (tmp_path / "x.png").exists()
