"""NAS-Bench-201 adapter: a tiny file in the official API's own format, converted and loaded.

The fixture holds 3 cells x 4 datasets x 2 seeds (one cell has a single seed on CIFAR-100), both
'less' (12-epoch) and 'full' (200-epoch) results, with different values at every epoch but the
last, per seed, per split and per setting, so only the pinned choice (hp='200', last epoch, mean
over seeds, the test split) reproduces the hand-computed numbers below.
"""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
import torch
from nas_201_api import ArchResults, NASBench201API, ResultsCount

from harness.benchmarks.base import BENCHMARKS, GT_COLUMNS, load_benchmark
from harness.benchmarks.files import KNOWN_FILES
from harness.benchmarks.nb201 import EXPORT_COLUMNS, NB201_DATASETS, convert_nb201
from harness.errors import DataFileError, HarnessError
from harness.io import sha256_of

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|",
]
SEEDS = (777, 888)

# Final-epoch (index 199) test accuracy of the 200-epoch runs, per dataset, arch and seed.
FINAL = {
    "cifar10": [{777: 93.0, 888: 94.0}, {777: 10.0, 888: 10.0}, {777: 88.0, 888: 91.0}],
    "cifar100": [{777: 70.0, 888: 72.0}, {777: 1.0, 888: 1.0}, {777: 60.0}],
    "ImageNet16-120": [{777: 44.0, 888: 47.0}, {777: 0.8, 888: 0.8}, {777: 35.0, 888: 36.0}],
    "cifar10-valid": [{777: 90.0, 888: 91.0}, {777: 10.0, 888: 10.0}, {777: 85.0, 888: 86.0}],
}
# Hand-computed: (mean, population std, n_seeds) per dataset and arch.
EXPECTED = {
    "nb201-cifar10-valid": [(90.5, 0.5, 2), (10.0, 0.0, 2), (85.5, 0.5, 2)],
    "nb201-cifar10": [(93.5, 0.5, 2), (10.0, 0.0, 2), (89.5, 1.5, 2)],
    "nb201-cifar100": [(71.0, 1.0, 2), (1.0, 0.0, 2), (60.0, 0.0, 1)],
    "nb201-imagenet16": [(45.5, 1.5, 2), (0.8, 0.0, 2), (35.5, 0.5, 2)],
}
# params (MB) and FLOPs (M) as the API reports them, per dataset and arch.
COSTS = {
    "cifar10": [(1.0, 150.0), (0.1, 10.0), (0.5, 80.0)],
    "cifar10-valid": [(1.0, 150.0), (0.1, 10.0), (0.5, 80.0)],
    "cifar100": [(1.1, 151.0), (0.2, 11.0), (0.6, 81.0)],
    "ImageNet16-120": [(1.2, 40.0), (0.3, 3.0), (0.7, 20.0)],
}
EVAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("ori-test", "x-valid", "x-test"),
    "ImageNet16-120": ("ori-test", "x-valid", "x-test"),
}
TEST_SET = {
    "cifar10": "ori-test",
    "cifar100": "x-test",
    "ImageNet16-120": "x-test",
    "cifar10-valid": "x-valid",  # the split nb201-cifar10-valid reads (valid accuracy)
}


def _trial(arch: int, dataset: str, seed: int, epochs: int, final: float) -> ResultsCount:
    """One trial; only the test split's last 200-epoch value equals `final`."""
    params, flops = COSTS[dataset][arch]
    config = {"channel": 16, "num_cells": 5, "arch_str": ARCHS[arch], "class_num": 10}
    train = {e: final - 1.0 - e * 0.001 for e in range(epochs)}
    result = ResultsCount(
        dataset,
        None,
        train,
        {e: 1.0 for e in range(epochs)},
        params,
        flops,
        config,
        seed,
        epochs,
        [0.01],
    )
    accs, losses, times = {}, {}, {}
    for setname in EVAL_SETS[dataset]:
        for e in range(epochs):
            if epochs == 200 and setname == TEST_SET[dataset]:
                value = final if e == epochs - 1 else final - 20.0 + e * 0.01
            elif epochs == 200:
                value = final - 7.0  # valid / valid+test: a different split
            else:
                value = final - 30.0 - e  # the 12-epoch setting
            accs[f"{setname}@{e}"] = value
            losses[f"{setname}@{e}"] = 1.0
            times[f"{setname}@{e}"] = 0.5
    result.update_eval(accs, losses, times)
    return result


def _arch_results(arch: int, epochs: int) -> dict:
    results = ArchResults(arch, ARCHS[arch])
    for dataset, per_arch in FINAL.items():
        for seed in SEEDS:
            if seed in per_arch[arch]:
                results.update(
                    dataset, seed, _trial(arch, dataset, seed, epochs, per_arch[arch][seed])
                )
    return results.state_dict()


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> dict:
    return {
        "meta_archs": list(ARCHS),
        "arch2infos": {
            i: {"less": _arch_results(i, 12), "full": _arch_results(i, 200)} for i in range(3)
        },
        "evaluated_indexes": [0, 1, 2],
    }


@pytest.fixture(scope="module")
def converted(official, tmp_path_factory):
    root = tmp_path_factory.mktemp("nb201")
    source = root / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(official, source)
    data_dir = root / "data"
    return source, data_dir, convert_nb201(source, data_dir)


def test_conversion_pins_200_epochs_last_epoch_and_seed_mean(converted):
    _source, data_dir, written = converted
    assert set(written) == set(NB201_DATASETS)
    for name, path in written.items():
        assert path == data_dir / "nb201" / f"{name}.csv"
        frame = pd.read_csv(path)
        assert list(frame.columns) == GT_COLUMNS + ["bench_id"]
        dataset = NB201_DATASETS[name][0]
        assert list(frame["key"]) == ARCHS
        assert list(frame["bench_id"]) == [0, 1, 2]
        for i, (mean, std, n) in enumerate(EXPECTED[name]):
            row = frame.iloc[i]
            assert row["accuracy"] == pytest.approx(mean, abs=1e-9), (name, i)
            assert row["accuracy_std"] == pytest.approx(std, abs=1e-9), (name, i)
            assert row["n_seeds"] == n
            params_mb, mflops = COSTS[dataset][i]
            assert row["params"] == pytest.approx(params_mb * 1e6)
            assert row["flops"] == pytest.approx(mflops * 1e6)
            assert row["dataset"] == dataset
            assert row["split"] == ("valid" if dataset == "cifar10-valid" else "test")
            assert row["epochs"] == 200


def test_conversion_agrees_with_the_api_get_more_info(official, converted):
    api = NASBench201API(official, verbose=False)
    for name, (dataset, _setname) in NB201_DATASETS.items():
        frame = pd.read_csv(converted[2][name])
        for i in range(3):
            # get_more_info reports cifar10-valid's x-valid result as 'valid-accuracy'.
            field = "valid-accuracy" if dataset == "cifar10-valid" else "test-accuracy"
            pinned = api.get_more_info(i, dataset, iepoch=None, hp="200", is_random=False)
            assert frame.loc[i, "accuracy"] == pytest.approx(pinned[field], abs=1e-9)
            default = api.get_more_info(i, dataset, is_random=False)  # hp='12' by default
            assert frame.loc[i, "accuracy"] != pytest.approx(default[field], abs=1.0)


def test_provenance_sidecar(converted):
    source, data_dir, _written = converted
    info = json.loads((data_dir / "nb201" / "nb201-cifar100.provenance.json").read_text())
    assert info["source_file"] == source.name
    assert info["source_sha256"] == sha256_of(source)
    assert info["hp"] == "200"
    assert info["setname"] == "x-test"
    assert info["dataset"] == "cifar100"
    assert "nas_201_api" in info["api_version"]
    assert info["metric"] == "test accuracy (%), 200 epochs, mean over seeds"


def test_registered_loaders_read_the_csvs(converted):
    _source, data_dir, written = converted
    for name in NB201_DATASETS:
        spec = BENCHMARKS.get(name)
        # Registered against the published export; a conversion in the data dir takes precedence.
        assert spec.space == "nb201" and spec.files == (EXPORT_COLUMNS[name][0].name,)
        start = time.perf_counter()
        gt = load_benchmark(name, data_dir)
        assert time.perf_counter() - start < 1.0
        assert gt.name == name and gt.space == "nb201" and gt.n_architectures == 3
        assert gt.provenance.file == str(written[name])
        assert gt.provenance.sha256 == sha256_of(written[name])
        assert "200 epochs" in gt.provenance.metric
        assert "NAS-Bench-201-v1_1-096897.pth" in gt.provenance.source
        expected = {ARCHS[i]: mean for i, (mean, _s, _n) in enumerate(EXPECTED[name])}
        assert gt.accuracy_by_key().to_dict() == pytest.approx(expected)
        assert gt.frame["n_seeds"].dtype.kind == "i" and gt.frame["epochs"].dtype.kind == "i"


def test_summary(converted):
    try:
        from harness.spaces import get_space

        get_space("nb201")
    except Exception as exc:  # the space module is written separately
        pytest.skip(f"nb201 space not available yet: {exc}")
    gt = load_benchmark("nb201-cifar100", converted[1])
    summary = gt.summary()
    assert summary["n_architectures"] == 3
    assert summary["best_key"] == ARCHS[0] and summary["best_accuracy"] == pytest.approx(71.0)
    assert summary["worst_key"] == ARCHS[1] and summary["worst_accuracy"] == pytest.approx(1.0)
    assert summary["mean_accuracy"] == pytest.approx(round((71.0 + 1.0 + 60.0) / 3, 4))
    assert (
        summary["dataset"] == "cifar100" and summary["split"] == "test" and summary["epochs"] == 200
    )


def test_known_file_entry():
    entry = KNOWN_FILES.get("nb201-official")
    assert entry.relpath == "nb201/NAS-Bench-201-v1_1-096897.pth"
    assert entry.sha256 is None
    assert "pickle" in entry.note and "4.7 GB" in entry.note


def test_missing_official_file(tmp_path):
    with pytest.raises(DataFileError, match="file not found"):
        convert_nb201(tmp_path / "NAS-Bench-201-v1_1-096897.pth", tmp_path / "data")


def test_garbage_official_file(tmp_path):
    bad = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(DataFileError, match="is not a NAS-Bench-201 benchmark file") as info:
        convert_nb201(bad, tmp_path / "data")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "data" / "nb201").exists()


def test_wrong_dict_official_file(tmp_path):
    bad = tmp_path / "other.pth"
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(DataFileError, match="is not a NAS-Bench-201 benchmark file"):
        convert_nb201(bad, tmp_path / "data")


def test_missing_converted_csv(tmp_path):
    with pytest.raises(DataFileError, match="gt fetch nb201-cifar10.*gt convert nb201"):
        load_benchmark("nb201-cifar10", tmp_path)


def test_converted_csv_missing_column(converted, tmp_path):
    frame = pd.read_csv(converted[2]["nb201-imagenet16"]).drop(columns=["accuracy"])
    (tmp_path / "nb201").mkdir()
    frame.to_csv(tmp_path / "nb201" / "nb201-imagenet16.csv", index=False)
    with pytest.raises(DataFileError, match=r"missing column.*accuracy.*gt convert nb201"):
        load_benchmark("nb201-imagenet16", tmp_path)


def test_converted_csv_empty_or_truncated(converted, tmp_path):
    (tmp_path / "nb201").mkdir()
    path = tmp_path / "nb201" / "nb201-cifar10.csv"
    path.write_text("")
    with pytest.raises(DataFileError, match="empty"):
        load_benchmark("nb201-cifar10", tmp_path)
    text = converted[2]["nb201-cifar10"].read_text().splitlines()
    path.write_text("\n".join(text[:-1] + [text[-1].split(",")[0]]) + "\n")  # last row cut short
    with pytest.raises(DataFileError, match="gt convert nb201"):
        load_benchmark("nb201-cifar10", tmp_path)


def test_cli_convert_says_it_will_unpickle_before_loading(official, tmp_path):
    from click.testing import CliRunner

    from harness.cli.main import cli

    source = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(official, source)
    result = CliRunner().invoke(cli, ["gt", "convert", "nb201", str(source), "--data-dir",
                                      str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    note = result.stderr.strip().splitlines()
    assert len(note) == 1 and "pickle" in note[0] and "trust" in note[0] and str(source) in note[0]
    assert result.output.index(note[0]) < result.output.index("nb201-cifar10:")
    assert (tmp_path / "data" / "nb201" / "nb201-cifar10.csv").is_file()


def test_cli_convert_of_a_garbage_file_is_one_error_line_after_the_note(tmp_path):
    from click.testing import CliRunner

    from harness.cli.main import cli

    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a pickle")
    result = CliRunner().invoke(cli, ["gt", "convert", "nb201", str(bad), "--data-dir",
                                      str(tmp_path / "data")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("note:") and lines[1].startswith("error:")
    assert "Traceback" not in result.output and not (tmp_path / "data").exists()


def test_convert_checks_the_output_folder_before_loading(converted, tmp_path, monkeypatch):
    import harness.benchmarks.nb201 as nb201

    source = converted[0]
    (tmp_path / "data").write_text("a file where the data folder should be")

    def must_not_load(path):
        raise AssertionError("loaded before checking where to write")

    monkeypatch.setattr(nb201, "_load_api", must_not_load)
    with pytest.raises(HarnessError, match="is a file, not a folder"):
        convert_nb201(source, tmp_path / "data")


def test_converted_csv_with_duplicate_keys(converted, tmp_path):
    frame = pd.read_csv(converted[2]["nb201-cifar10"])
    (tmp_path / "nb201").mkdir()
    pd.concat([frame, frame.iloc[[0]]]).to_csv(tmp_path / "nb201" / "nb201-cifar10.csv", index=False)
    with pytest.raises(DataFileError, match="more than one row"):
        load_benchmark("nb201-cifar10", tmp_path)
