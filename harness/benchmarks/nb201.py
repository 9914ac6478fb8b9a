"""NAS-Bench-201 ground truth: the published 200-epoch exports, or a conversion of the official file.

Four benchmarks, each 15,625 rows in official index order (`bench_id`, the space's `index:N`):
  nb201-cifar10        CIFAR-10 test accuracy of the model trained on the full training set
  nb201-cifar10-valid  CIFAR-10 x-valid accuracy of the model trained on the 25k half (the column
                       supernet-ranking papers use most)
  nb201-cifar100       CIFAR-100 x-test accuracy
  nb201-imagenet16     ImageNet16-120 x-test accuracy
Where a converted table of the official file is in `<data dir>/nb201/` (`gt convert nb201`), it
is used (it has per-seed std and seed counts); otherwise the published exports registered below
(`gt fetch nb201`), whose seed means equal the official records'. The exports give no std, seed
count, params or FLOPs: std and n_seeds stay null; params and FLOPs come from the harness's own
NB-201 builder (harness.nets.cost, NB-201's counting rule, equal to the official records).

The official file (`NAS-Bench-201-v1_1-096897.pth`, ~4.7 GB) is a torch pickle read through the
`nas_201_api` package. `convert_nb201` reads it once and writes, per dataset, a CSV in the common
schema under `<data dir>/nb201/`; the registered loaders read only those CSVs.

What is pinned (the API's defaults would give a 12-epoch or a single random seed's result):
  * hp='200': the 200-epoch training setting (the file's 'full' results, not 'less' = 12 epochs);
  * iepoch=None: the metric after the last epoch (index 199);
  * is_random=False: accuracy is the mean over all seeds the file has, exactly as
    `ArchResults.get_metrics(dataset, setname, iepoch=None, is_random=False)` (and so
    `API.get_more_info(index, dataset, hp='200', is_random=False)['test-accuracy']`) computes it;
    accuracy_std is the population std (numpy, ddof=0) of the per-seed values; n_seeds counts them;
  * the test split get_more_info reports as 'test-accuracy': 'ori-test' (the CIFAR-10 test set) for
    'cifar10' (trained on train+valid), 'x-test' for 'cifar100' and 'ImageNet16-120'.
params / flops are the API's `get_compute_costs(dataset)` values (MB = millions of parameters,
MFLOPs) times 1e6, i.e. raw counts like the other benchmarks. `bench_id` is the official API index
(`api[bench_id] == key`), which is not the search space's "index:N" order.
"""

from __future__ import annotations

import functools
import json
import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from harness.benchmarks.base import (
    GT_COLUMNS,
    GroundTruth,
    Provenance,
    check_unique_keys,
    register_benchmark,
)
from harness.benchmarks.files import known_file
from harness.benchmarks.published import numeric_column, read_csv_checked
from harness.errors import DataFileError, HarnessError
from harness.io import atomic_write_csv, atomic_write_json, check_writable, sha256_of

OFFICIAL_FILE_NAME = "NAS-Bench-201-v1_1-096897.pth"
SUBDIR = "nb201"
HP = "200"
EPOCHS = 200
CONVERT_HINT = f"run `nas-harness gt convert nb201 {OFFICIAL_FILE_NAME}` first"

# benchmark name -> (the API's dataset name, the eval set get_more_info reports as 'test-accuracy')
NB201_DATASETS: dict[str, tuple[str, str]] = {
    "nb201-cifar10": ("cifar10", "ori-test"),
    "nb201-cifar10-valid": ("cifar10-valid", "x-valid"),
    "nb201-cifar100": ("cifar100", "x-test"),
    "nb201-imagenet16": ("ImageNet16-120", "x-test"),
}

METRIC = "test accuracy (%), 200 epochs, mean over seeds"
METRICS = {name: METRIC for name in ("nb201-cifar10", "nb201-cifar100", "nb201-imagenet16")}
METRICS["nb201-cifar10-valid"] = ("x-valid accuracy (%) of the model trained on the 25k train "
                                  "half, 200 epochs, mean over seeds")
# The harness dataset whose input size and classes the networks of each API dataset have.
COST_DATASET = {"cifar10": "cifar10", "cifar10-valid": "cifar10", "cifar100": "cifar100",
                "ImageNet16-120": "imagenet16-120"}
N_CELLS = 15625

# The published exports (../PROVENANCE of the data directory's nb201 folder says how each was made).
TEST_EXPORT = known_file(
    "nb201-test-accuracy",
    f"{SUBDIR}/nb201_test_acc_200ep_seedmean.csv",
    "https://raw.githubusercontent.com/v-tao/nats-bench-landscape/"
    "b307ae5fe6e8d7043cd4fe7d1c3532288271adb7/nats_bench.csv",
    "cb5d777ec3368be83c8f9b3aa4d520696051cb0eb8d94b8f85b519f9ea4afa3e",
    "NAS-Bench-201 (NATS-tss), all 15,625 cells in official index order: 200-epoch seed-mean test "
    "accuracy on CIFAR-10, CIFAR-100 and ImageNet16-120, and the official UniqueString",
    "made with the NATS-Bench API (get_more_info(i, dataset, hp=200, is_random=False)); the "
    "repository has no licence file, the values are NATS-Bench's (API: MIT licence)",
)
VALID_EXPORT = known_file(
    "nb201-cifar10-valid",
    f"{SUBDIR}/nb201_cifar10-valid_200ep_seedmean.csv",
    "https://raw.githubusercontent.com/gabro8a/NAS-Landscapes/"
    "abd5221948d901f765e3bc61d0175a3c1c52b802/data/accuracy/cifar10_avg.csv",
    "1fc89edb42c804223ea2f520a3a65b5e10d8c34bc2d1bbca6bc4b4b38a193827",
    "NAS-Bench-201 cifar10-valid, all 15,625 cells: train / x-valid / ori-test metrics of the "
    "model trained on the 25k train half for 200 epochs, mean over seeds",
    "MIT licence, Copyright (c) 2023 Gabriela Ochoa and Nadarajen Veerapen",
)
REFERENCE_RECORDS = known_file(
    "nb201-reference-records",
    f"{SUBDIR}/nb201_reference_samples.json",
    "https://github.com/D-X-Y/NATS-Bench/tree/1d4a304ad1906aa5866563438fcbf0d624b7eda2/"
    "fake_torch_dir/NATS-tss-v1_0-3ffb9-simple",
    "8237cf6bcd5ca5c0df168411786dcb459eeed1b7c2292303e6e7f96efbaceecb",
    "Three official NATS-Bench records (cells 0, 11, 284) as JSON: per-seed accuracies, params "
    "and FLOPs, to check builders and lookups against",
    "converted from the official API's bz2 sample pickles (MIT licence, Xuanyi Dong)",
    manual="read 000000/000011/000284.pickle.pbz2 of "
    "https://github.com/D-X-Y/NATS-Bench/tree/1d4a304ad1906aa5866563438fcbf0d624b7eda2/"
    "fake_torch_dir/NATS-tss-v1_0-3ffb9-simple with nats_bench (create(dir, 'tss', "
    "fast_mode=True)) and write get_more_info / get_cost_info per seed as JSON",
)
# benchmark -> (export, its accuracy column, split name in the common schema)
EXPORT_COLUMNS = {
    "nb201-cifar10": (TEST_EXPORT, "CIFAR10TestAccuracy200Epochs", "test"),
    "nb201-cifar10-valid": (VALID_EXPORT, "valid-accuracy", "valid"),
    "nb201-cifar100": (TEST_EXPORT, "CIFAR100TestAccuracy200Epochs", "test"),
    "nb201-imagenet16": (TEST_EXPORT, "ImageNetTestAccuracy200Epochs", "test"),
}
EXPORT_KEY_COLUMN = {TEST_EXPORT.name: "ArchitectureString", VALID_EXPORT.name: "arch_str"}

OFFICIAL = known_file(
    "nb201-official",
    f"{SUBDIR}/{OFFICIAL_FILE_NAME}",
    # The v1_1 link given in the NAS-Bench-201 README (https://github.com/D-X-Y/NAS-Bench-201).
    "https://drive.google.com/open?id=16Y0UwGisiouVRxW-W5hEtbxmcHw_0hF_",
    None,  # no published checksum: the file cannot be verified
    "NAS-Bench-201 v1.1 official benchmark file (15,625 cells; 12- and 200-epoch results)",
    "~4.7 GB Google Drive file linked from https://github.com/D-X-Y/NAS-Bench-201 (download it in "
    "a browser); no published sha256. It is a Python pickle: loading it can run code, so load only "
    "a file you trust. Convert it once with `nas-harness gt convert nb201 <file>`.",
)


def csv_path(name: str, data_dir: str | Path) -> Path:
    return Path(data_dir) / SUBDIR / f"{name}.csv"


def sidecar_path(name: str, data_dir: str | Path) -> Path:
    return Path(data_dir) / SUBDIR / f"{name}.provenance.json"


# ---------------------------------------------------------------- conversion


def _not_nb201(path: Path, why: object) -> DataFileError:
    text = str(why).strip().splitlines()
    detail = text[0] if text else why.__class__.__name__
    return DataFileError(f"{path} is not a NAS-Bench-201 benchmark file: {detail}")


def _load_api(path: Path):
    """The official file as a `NASBench201API`, its per-architecture results built as the API does.

    `NASBench201API.__init__` deep-copies the dict it is given, which would double the memory for a
    4.7 GB file, so the API is created on the file's small index ('meta_archs', 'evaluated_indexes')
    and `arch2infos_dict` is filled exactly as the constructor fills it:
    {index: {'12': ArchResults(less), '200': ArchResults(full)}}.
    """
    import torch
    from nas_201_api import ArchResults, NASBench201API

    try:
        # weights_only=False: the file is a pickle of the API's own dicts (torch >= 2.6 defaults to
        # weights_only=True). Only ever called on a file the user named explicitly.
        raw = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not this file"
        raise _not_nb201(path, exc) from None
    keys = ("meta_archs", "arch2infos", "evaluated_indexes")
    if not isinstance(raw, dict) or any(k not in raw for k in keys):
        found = sorted(map(str, raw))[:6] if isinstance(raw, dict) else type(raw).__name__
        raise _not_nb201(path, f"expected a dict with keys {list(keys)}, found {found}")
    try:
        api = NASBench201API(
            {
                "meta_archs": raw["meta_archs"],
                "arch2infos": {},
                "evaluated_indexes": raw["evaluated_indexes"],
            },
            verbose=False,
        )
        for index in sorted(raw["arch2infos"]):
            all_info = raw["arch2infos"][index]
            api.arch2infos_dict[index] = OrderedDict(
                [
                    ("12", ArchResults.create_from_state_dict(all_info["less"])),
                    ("200", ArchResults.create_from_state_dict(all_info["full"])),
                ]
            )
    except Exception as exc:  # noqa: BLE001
        raise _not_nb201(path, f"{exc.__class__.__name__}: {exc}") from None
    return api


def _convert_dataset(api, path: Path, dataset: str, setname: str) -> pd.DataFrame:
    rows: dict[str, list] = {
        c: [] for c in ("key", "accuracy", "accuracy_std", "n_seeds", "params", "flops")
    }
    bench_ids: list[int] = []
    for index in api.evaluated_indexes:
        try:
            key = api.meta_archs[index]
            # What get_more_info(index, dataset, hp='200') reads (query_meta_info_by_index would
            # deep-copy every architecture's results).
            archres = api.arch2infos_dict[index][HP]
            if archres.arch_str != key:
                raise DataFileError(
                    f"{path}: architecture {index} is '{archres.arch_str}' in its results but "
                    f"'{key}' in meta_archs; the file is corrupt"
                )
            # The API's own seed-averaged value (what get_more_info(..., hp='200', is_random=False) returns).
            mean = float(
                archres.get_metrics(dataset, setname, iepoch=None, is_random=False)["accuracy"]
            )
            trials = archres.query(dataset)  # {seed: ResultsCount}, in the API's seed order
            epochs = {trial.get_total_epoch() for trial in trials.values()}
            per_seed = [float(trial.get_eval(setname)["accuracy"]) for trial in trials.values()]
            costs = archres.get_compute_costs(dataset)
        except DataFileError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _not_nb201(
                path,
                f"architecture {index} has no 200-epoch '{setname}' result on {dataset} "
                f"({exc.__class__.__name__}: {exc})",
            ) from None
        if epochs != {EPOCHS}:
            raise DataFileError(
                f"{path}: architecture {index} on {dataset}: expected {EPOCHS}-epoch ('full') results, "
                f"found {sorted(epochs)} epochs; not the NAS-Bench-201 v1.1 file"
            )
        if not per_seed or not math.isclose(
            float(np.mean(per_seed)), mean, rel_tol=0, abs_tol=1e-9
        ):
            raise DataFileError(
                f"{path}: architecture {index} on {dataset}: inconsistent per-seed results"
            )
        rows["key"].append(str(key))
        rows["accuracy"].append(mean)
        rows["accuracy_std"].append(float(np.std(per_seed)))
        rows["n_seeds"].append(len(per_seed))
        rows["params"].append(float(costs["params"]) * 1e6)
        rows["flops"].append(float(costs["flops"]) * 1e6)
        bench_ids.append(int(index))
    frame = pd.DataFrame(rows)
    frame["dataset"] = dataset
    frame["split"] = "valid" if setname == "x-valid" else "test"
    frame["epochs"] = EPOCHS
    frame = frame[GT_COLUMNS]
    frame["bench_id"] = bench_ids
    return frame


def convert_nb201(official_file: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Convert the official NAS-Bench-201 file into three compact CSVs; returns {name: csv path}.

    Writes `out_dir/nb201/nb201-{cifar10,cifar100,imagenet16}.csv` (common GT schema plus
    `bench_id`) and a `.provenance.json` sidecar beside each, atomically. See the module docstring
    for the pinned setting (hp='200', last epoch, mean over all seeds, the test split).

    The official file is a Python pickle (loaded with `torch.load(weights_only=False)`): unpickling
    can run arbitrary code, so this is only ever called on a file the user names explicitly and
    trusts. Raises DataFileError for a missing file or one the API cannot read.
    """
    path = Path(official_file)
    if not path.is_file():
        raise DataFileError(
            f"{path}: file not found; download {OFFICIAL_FILE_NAME} from {OFFICIAL.url} and pass its path"
        )
    try:
        import nas_201_api
    except ImportError:
        raise HarnessError(
            "converting NAS-Bench-201 needs the official API: pip install nas-bench-201"
        ) from None
    # Where the tables go is checked before the (long) load of the official file.
    check_writable(Path(out_dir) / SUBDIR, is_folder=True)
    source_sha = sha256_of(path)
    api = _load_api(path)
    if not api.evaluated_indexes:
        raise _not_nb201(path, "it holds no evaluated architectures")
    try:
        from importlib.metadata import version

        package_version = version("nas-bench-201")
    except Exception:  # noqa: BLE001
        package_version = "unknown"
    api_version = f"nas_201_api {getattr(nas_201_api, 'NAS_BENCH_201_API_VERSION', '?')} (package {package_version})"

    # All three tables are built before any is written: a bad file leaves no partial output.
    frames = {
        name: _convert_dataset(api, path, dataset, setname)
        for name, (dataset, setname) in NB201_DATASETS.items()
    }
    written: dict[str, Path] = {}
    for name, (dataset, setname) in NB201_DATASETS.items():
        frame = frames[name]
        out = atomic_write_csv(csv_path(name, out_dir), frame)
        atomic_write_json(
            sidecar_path(name, out_dir),
            {
                "benchmark": name,
                "source_file": path.name,
                "source_sha256": source_sha,
                "api_version": api_version,
                "hp": HP,
                "iepoch": "last (None)",
                "is_random": False,
                "dataset": dataset,
                "setname": setname,
                "metric": METRIC,
                "n_architectures": int(len(frame)),
                "note": "the CSV's own sha256 is computed when it is loaded",
            },
        )
        written[name] = out
    return written


# ---------------------------------------------------------------- loaders


def _source(name: str, data_dir: Path) -> str:
    sidecar = sidecar_path(name, data_dir)
    try:
        info = json.loads(sidecar.read_text(encoding="utf-8"))
        return (
            f"{info['source_file']} (sha256 {info['source_sha256']}) via {info['api_version']}, "
            f"hp={info['hp']}, {info['dataset']} '{info['setname']}'"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return OFFICIAL.url


def load_converted(name: str, data_dir: str | Path) -> GroundTruth:
    """Read `data_dir/nb201/<name>.csv` written by `convert_nb201`."""
    dataset, _setname = NB201_DATASETS[name]
    path = csv_path(name, data_dir)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found; {CONVERT_HINT}")
    frame = read_csv_checked(path, GT_COLUMNS, CONVERT_HINT)
    for column in ("accuracy", "accuracy_std", "n_seeds", "params", "flops", "epochs"):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = int(np.sum(~np.isfinite(values)))
        if bad:
            raise DataFileError(
                f"{path}: column '{column}' has {bad} missing or non-numeric value(s); the file is "
                f"truncated or corrupt: {CONVERT_HINT}"
            )
        frame[column] = values
    frame["n_seeds"] = frame["n_seeds"].astype(int)
    frame["epochs"] = frame["epochs"].astype(int)
    frame["key"] = frame["key"].astype(str)
    check_unique_keys(frame, path, f"the file is corrupt: {CONVERT_HINT}")
    found = set(frame["dataset"].astype(str))
    if found != {dataset}:
        raise DataFileError(
            f"{path}: expected dataset '{dataset}', found {sorted(found)[:3]}; {CONVERT_HINT}"
        )
    return GroundTruth(
        name=name,
        space="nb201",
        frame=frame,
        provenance=Provenance(
            file=str(path), sha256=sha256_of(path), metric=METRICS[name],
            source=_source(name, data_dir)
        ),
    )


@functools.lru_cache(maxsize=1)
def _official_keys() -> tuple[str, ...]:
    """The 15,625 keys in official index order, built once per process (a load of each of the
    four tables checks its rows against them)."""
    from harness.spaces import get_space

    space = get_space("nb201")
    return tuple(space.key(arch) for arch in space.official_order())


def load_export(name: str, data_dir: str | Path) -> GroundTruth:
    """One benchmark from the published exports: 15,625 rows in official index order, checked;
    std and n_seeds null (the exports do not give them), params and FLOPs from the builder."""
    from harness.spaces import get_space
    from harness.spaces.costs import stored_table

    export, column, split = EXPORT_COLUMNS[name]
    dataset, _setname = NB201_DATASETS[name]
    path = export.verified_path(data_dir)
    fix = f"replace it: `nas-harness gt fetch {name}` ({export.how_to_get(data_dir)})"
    key_column = EXPORT_KEY_COLUMN[export.name]
    raw = read_csv_checked(path, [key_column, column], fix, text_columns=(key_column,))
    if len(raw) != N_CELLS:
        raise DataFileError(f"{path}: {len(raw)} rows, expected {N_CELLS} (one per cell); {fix}")
    space = get_space("nb201")
    keys = raw[key_column].astype(str).tolist()
    expected = _official_keys()
    if tuple(keys) != expected:
        bad = next(i for i, (a, b) in enumerate(zip(keys, expected)) if a != b)
        try:
            arch = space.parse(keys[bad])
        except HarnessError as exc:
            raise DataFileError(f"{path}: row {bad}: {exc}; {fix}") from None
        where = space.official_index(arch)
        raise DataFileError(f"{path}: row {bad} is cell index:{where}, not index:{bad}; the rows "
                            f"are not in official index order; {fix}")
    frame = pd.DataFrame({"key": keys,
                          "accuracy": numeric_column(raw, column, path, fix)})
    archs = np.array(space.official_order(), dtype=np.int64)
    params, flops = stored_table("nb201", COST_DATASET[dataset]).costs(archs)
    frame["accuracy_std"] = np.nan
    frame["n_seeds"] = pd.array([pd.NA] * N_CELLS, dtype="Int64")
    frame["params"] = params.astype(float)
    frame["flops"] = flops.astype(float)
    frame["dataset"] = dataset
    frame["split"] = split
    frame["epochs"] = EPOCHS
    frame["bench_id"] = np.arange(N_CELLS)
    return GroundTruth(
        name=name, space="nb201", frame=frame,
        provenance=Provenance(file=str(path), sha256=sha256_of(path), metric=METRICS[name],
                              source=f"{export.url} (column {column}); params and FLOPs from the "
                                     "harness's NB-201 builder"))


def load_nb201_benchmark(name: str, data_dir: str | Path) -> GroundTruth:
    """The conversion of the official file where one is in the data directory, else the export."""
    if csv_path(name, data_dir).is_file():
        return load_converted(name, data_dir)
    export = EXPORT_COLUMNS[name][0]
    if not export.path(data_dir).is_file():
        raise DataFileError(
            f"{export.path(data_dir)}: file not found; run `nas-harness gt fetch {name}` (the "
            f"published export, {export.url}), or {CONVERT_HINT} (or pass --data-dir / set "
            "HARNESS_DATA_DIR)")
    return load_export(name, data_dir)


_DESCRIPTIONS = {
    "nb201-cifar10": "NAS-Bench-201, CIFAR-10 test accuracy (trained on the full train set), "
                     "200 epochs, 15,625 cells",
    "nb201-cifar10-valid": "NAS-Bench-201, CIFAR-10 x-valid accuracy (trained on the 25k half), "
                           "200 epochs, 15,625 cells",
    "nb201-cifar100": "NAS-Bench-201, CIFAR-100 x-test accuracy, 200 epochs, 15,625 cells",
    "nb201-imagenet16": "NAS-Bench-201, ImageNet16-120 x-test accuracy, 200 epochs, 15,625 cells",
}


def _register(name: str) -> None:
    export = EXPORT_COLUMNS[name][0]

    @register_benchmark(name, space="nb201", description=_DESCRIPTIONS[name],
                        files=(export.name,))
    def _load(data_dir: Path) -> GroundTruth:
        return load_nb201_benchmark(name, data_dir)


for _name in EXPORT_COLUMNS:
    _register(_name)


# The harness's dataset names -> the API's.
API_DATASET = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}


def official_record_cost(space: str, index: int, dataset: str,
                         data_dir: str | Path | None = None) -> dict | None:
    """params and FLOPs of NB-201 cell `index` on `dataset` from the registered official records,
    where the data directory has them and they hold that cell (0, 11 and 284); else None (and for
    every other space)."""
    from harness.benchmarks.base import resolve_data_dir

    path = REFERENCE_RECORDS.path(resolve_data_dir(data_dir))
    if space != "nb201" or dataset not in API_DATASET or not path.is_file():
        return None
    REFERENCE_RECORDS.verified_path(resolve_data_dir(data_dir))
    try:
        records = json.loads(path.read_text(encoding="utf-8"))["architectures"]
        cost = records[str(index)]["hp"]["200"][API_DATASET[dataset]]["cost"]
    except KeyError:
        return None
    except (ValueError, UnicodeDecodeError):
        raise DataFileError(f"{path}: not the registered JSON records; replace it") from None
    return {"params": round(cost["params"] * 1e6), "flops": round(cost["flops"] * 1e6),
            "params_m": cost["params"], "flops_m": cost["flops"],
            "source": f"{REFERENCE_RECORDS.relpath} (official NATS-Bench record {index})"}
