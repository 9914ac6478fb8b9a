"""NAS-Bench-201 from the published exports: the four benchmarks, checked against the official
records (accuracies, params, FLOPs), the official index order and isomorphism classes, the
loader's checks, and a conversion of official-format records that gives the same table."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from harness.benchmarks import load_benchmark
from harness.benchmarks.nb201 import EXPORT_COLUMNS, NB201_DATASETS, convert_nb201
from harness.errors import DataFileError
from harness.spaces import get_space

BENCHMARKS = ("nb201-cifar10", "nb201-cifar10-valid", "nb201-cifar100", "nb201-imagenet16")
# The optima the NB-201 paper reports (200 epochs): PROVENANCE.md of the data folder.
BEST = {"nb201-cifar10": 94.3733, "nb201-cifar10-valid": 91.6067, "nb201-cifar100": 73.5133,
        "nb201-imagenet16": 47.3111}
# Which field of get_more_info each benchmark's accuracy is.
FIELD = {"nb201-cifar10": "test-accuracy", "nb201-cifar10-valid": "valid-accuracy",
         "nb201-cifar100": "test-accuracy", "nb201-imagenet16": "test-accuracy"}


@pytest.fixture(scope="module")
def records(data_dir):
    return json.loads((data_dir / "nb201" / "nb201_reference_samples.json").read_text())[
        "architectures"]


@pytest.fixture(scope="module")
def tables(data_dir):
    return {name: load_benchmark(name, data_dir) for name in BENCHMARKS}


@pytest.mark.parametrize("name", BENCHMARKS)
def test_export_benchmark_rows_order_and_nulls(tables, name):
    gt = tables[name]
    frame = gt.frame
    assert len(frame) == 15625 and list(frame["bench_id"]) == list(range(15625))
    space = get_space("nb201")
    assert [space.official_index(space.parse(k)) for k in frame["key"][:50]] == list(range(50))
    assert frame["accuracy"].max() == pytest.approx(BEST[name], abs=1e-4)
    assert frame["accuracy_std"].isna().all()  # the exports give no std: null, never 0
    assert frame["n_seeds"].isna().all()
    assert (frame["epochs"] == 200).all()
    assert gt.summary()["n_distinct"] == 6466


@pytest.mark.parametrize("name", BENCHMARKS)
@pytest.mark.parametrize("index", ["0", "11", "284"])
def test_export_equals_the_official_records(tables, records, name, index):
    dataset = NB201_DATASETS[name][0]
    record = records[index]["hp"]["200"][dataset]
    row = tables[name].frame.iloc[int(index)]
    assert row["key"] == records[index]["arch_str"]
    assert row["accuracy"] == pytest.approx(record["seed_mean"][FIELD[name]], abs=1e-6)
    # params and FLOPs from the harness's builder, NB-201's counting rule.
    assert row["params"] == pytest.approx(record["cost"]["params"] * 1e6, abs=0.5)
    assert row["flops"] == pytest.approx(record["cost"]["flops"] * 1e6, abs=0.5)


def test_isomorphism_partition_equals_the_official_unique_strings(data_dir):
    frame = pd.read_csv(data_dir / "nb201" / "nb201_test_acc_200ep_seedmean.csv")
    space = get_space("nb201")
    ours = [space.canonical_key(k) for k in frame["ArchitectureString"]]
    official = list(frame["UniqueString"])
    # The same partition: a bijection between our class labels and the official ones.
    pairs = set(zip(ours, official))
    assert len(pairs) == len(set(ours)) == len(set(official)) == 6466


def _unverified(monkeypatch, name: str) -> None:
    """Let an edited copy of a registered export past the sha256 check, to reach the others."""
    export, column, split = EXPORT_COLUMNS[name]
    monkeypatch.setitem(EXPORT_COLUMNS, name,
                        (dataclasses.replace(export, sha256=None), column, split))


def _copy_export(data_dir, tmp_path, edit) -> None:
    (tmp_path / "nb201").mkdir()
    frame = pd.read_csv(data_dir / "nb201" / "nb201_test_acc_200ep_seedmean.csv")
    edit(frame).to_csv(tmp_path / "nb201" / "nb201_test_acc_200ep_seedmean.csv", index=False)


def test_an_edited_export_fails_its_checksum(data_dir, tmp_path):
    _copy_export(data_dir, tmp_path, lambda f: f.assign(CIFAR10TestAccuracy200Epochs=50.0))
    with pytest.raises(DataFileError, match="wrong checksum"):
        load_benchmark("nb201-cifar10", tmp_path)


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.iloc[:-1], "15624 rows, expected 15625"),
    (lambda f: f.iloc[[1, 0] + list(range(2, len(f)))], "row 0 is cell index:1"),
    (lambda f: f.assign(ArchitectureString=["|bad~0|"] + list(f["ArchitectureString"][1:])),
     "row 0: malformed nb201 architecture key"),
    (lambda f: f.assign(CIFAR10TestAccuracy200Epochs=["x"] + list(
        f["CIFAR10TestAccuracy200Epochs"][1:])), "non-numeric"),
])
def test_export_loader_checks(data_dir, tmp_path, monkeypatch, edit, message):
    _unverified(monkeypatch, "nb201-cifar10")
    _copy_export(data_dir, tmp_path, edit)
    with pytest.raises(DataFileError, match=message):
        load_benchmark("nb201-cifar10", tmp_path)


# ------------------------------------------------------------ conversion == export


def _official_file(records: dict) -> dict:
    """The official file's dict for cells 0, 11 and 284, from their per-seed official records."""
    from nas_201_api import ArchResults, ResultsCount

    eval_sets = {"cifar10": ("ori-test",), "cifar10-valid": ("x-valid", "ori-test"),
                 "cifar100": ("x-valid", "x-test", "ori-test"),
                 "ImageNet16-120": ("x-valid", "x-test", "ori-test")}
    # get_more_info's 'test-accuracy' set (and cifar10-valid's 'valid-accuracy' set) per dataset.
    reported = {"cifar10": {"ori-test": "test-accuracy"},
                "cifar10-valid": {"x-valid": "valid-accuracy", "ori-test": "test-accuracy"},
                "cifar100": {"x-test": "test-accuracy", "x-valid": "valid-accuracy"},
                "ImageNet16-120": {"x-test": "test-accuracy", "x-valid": "valid-accuracy"}}
    archs, infos = [], {}
    for i, index in enumerate(("0", "11", "284")):
        record = records[index]
        archs.append(record["arch_str"])
        full = ArchResults(i, record["arch_str"])
        for dataset, sets in eval_sets.items():
            entry = record["hp"]["200"][dataset]
            for seed in entry["seeds"]:
                per_seed = entry["per_seed"][str(seed)]
                trial = ResultsCount(dataset, None, {e: 50.0 for e in range(200)},
                                     {e: 1.0 for e in range(200)}, entry["cost"]["params"],
                                     entry["cost"]["flops"], {"arch_str": record["arch_str"]},
                                     seed, 200, [0.01])
                accs, losses, times = {}, {}, {}
                for setname in sets:
                    value = per_seed.get(reported[dataset].get(setname, ""), 0.0)
                    for e in range(200):
                        accs[f"{setname}@{e}"] = value if e == 199 else 0.0
                        losses[f"{setname}@{e}"] = 1.0
                        times[f"{setname}@{e}"] = 0.5
                trial.update_eval(accs, losses, times)
                full.update(dataset, seed, trial)
        state = full.state_dict()
        infos[i] = {"less": state, "full": state}
    return {"meta_archs": archs, "arch2infos": infos, "evaluated_indexes": [0, 1, 2]}


def test_converting_official_records_gives_the_export_table(records, tables, tmp_path):
    source = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(_official_file(records), source)
    written = convert_nb201(source, tmp_path / "data")
    assert set(written) == set(BENCHMARKS)
    for name in BENCHMARKS:
        converted = load_benchmark(name, tmp_path / "data").frame  # the conversion takes precedence
        exported = tables[name].frame.iloc[[0, 11, 284]].reset_index(drop=True)
        assert list(converted["key"]) == list(exported["key"])
        np.testing.assert_allclose(converted["accuracy"], exported["accuracy"], atol=1e-6)
        np.testing.assert_allclose(converted["params"], exported["params"], atol=0.5)
        np.testing.assert_allclose(converted["flops"], exported["flops"], atol=0.5)
        assert (converted["n_seeds"] == 3).all()  # the conversion has what the export lacks
        assert list(converted["split"]) == list(exported["split"])
    shutil.rmtree(tmp_path / "data")


def test_stored_cost_tables_equal_the_builders():
    from harness.nets.cost import compute_tables
    from harness.spaces.costs import TABLES_FILE

    assert compute_tables() == json.loads(TABLES_FILE.read_text())


def test_cost_table_is_exact_against_direct_counts(monkeypatch):
    from harness.nets import NetConfig
    from harness.nets import cost as cost_module
    from harness.spaces.costs import NetCost

    space = get_space("nb201")
    rng = np.random.default_rng(0)
    sample = [space.sample(rng) for _ in range(4)]
    # Raises if any sampled network's direct count differs from the table's sum.
    cost_module.cost_table("nb201", [5] * 6, NetConfig(num_classes=100), check=sample)

    def interacting(space_name, arch, cfg):  # two positions whose costs interact
        return NetCost(params=sum(arch) + arch[0] * arch[1], flops=0)

    monkeypatch.setattr(cost_module, "network_cost", interacting)
    with pytest.raises(ValueError, match="not additive"):
        cost_module.cost_table("nb201", [5] * 6, NetConfig(), check=[(1, 1, 0, 0, 0, 0)])


def test_nb_macro_costs_equal_the_published_json(data_dir):
    from harness.nets import NetConfig
    from harness.nets.cost import network_cost

    gt = load_benchmark("nb-macro", data_dir)
    space = get_space("nb-macro")
    for key in gt.frame["key"].sample(5, random_state=0):
        row = gt.frame.set_index("key").loc[key]
        cost = network_cost("nb-macro", space.parse(key), NetConfig())
        assert (cost.params, cost.flops) == (row["params"], row["flops"])





def test_networks_first_takes_the_lowest_official_index_member(tables):
    from harness.analysis.correlate import correlate, join_with_truth

    gt = tables["nb201-cifar10"]
    space = get_space("nb201")
    frame = gt.frame
    classes = frame["key"].map(space.canonical_key)
    # A hand-checked class: its first member's accuracy, not the class mean.
    cls = classes[classes.duplicated(keep=False)].iloc[0]
    rows = frame[classes == cls].sort_values("bench_id")
    assert len(rows) > 1
    preds = pd.DataFrame({"key": frame["key"], "score": frame["accuracy"]})
    first = join_with_truth(preds, gt, "first").set_index("key")
    distinct = join_with_truth(preds, gt, "distinct").set_index("key")
    assert first.loc[cls, "accuracy"] == pytest.approx(rows["accuracy"].iloc[0])
    assert distinct.loc[cls, "accuracy"] == pytest.approx(rows["accuracy"].mean())
    assert len(first) == len(distinct) == 6466
    # A predictor equal to the first member's accuracy ranks perfectly under 'first' only.
    lookup = first["accuracy"]
    perfect = pd.DataFrame({"key": list(lookup.index), "score": list(lookup.values)})
    result = correlate(perfect, gt, networks="first", metrics=["kendall_tau"], n_resamples=0)
    assert result.metrics["kendall_tau"].value == pytest.approx(1.0)
    assert "lowest official index" in result.to_dict()["networks_convention"]
    other = correlate(perfect, gt, networks="distinct", metrics=["kendall_tau"], n_resamples=0)
    assert other.metrics["kendall_tau"].value < 1.0
