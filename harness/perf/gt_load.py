"""Load time and memory of every ground-truth table whose files are present (targets: under 1 s and
200 MB each), and the time of `correlate` over all 15,625 NB-201 cells with 1,000 resamples."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from harness.errors import HarnessError
from harness.perf.sections import bench_section

TARGET_S = 1.0
TARGET_MB = 200.0


@bench_section("gt-load")
def gt_load_times(data_dir=None, repeats: int = 3, **_) -> list[dict]:
    """Load time and peak memory of every ground-truth table whose files are present."""
    from harness.benchmarks import BENCHMARKS, load_benchmark

    rows = []
    for name in BENCHMARKS:
        times = []
        try:
            # The first load in the process pays one-time work (e.g. NB-201's official order);
            # tracemalloc sees numpy's and pandas' buffers, so its peak is the load's memory.
            tracemalloc.start()
            start = time.perf_counter()
            truth = load_benchmark(name, data_dir)
            first = time.perf_counter() - start
            peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            for _ in range(repeats):
                start = time.perf_counter()
                truth = load_benchmark(name, data_dir)
                times.append(time.perf_counter() - start)
        except HarnessError as exc:
            if tracemalloc.is_tracing():
                tracemalloc.stop()
            rows.append({"benchmark": name, "status": "absent", "why": str(exc)[:160]})
            continue
        best = min(times)
        rows.append(
            {
                "benchmark": name,
                "status": "ok",
                "rows": truth.n_architectures,
                "first_load_s": round(first, 4),
                "load_s": round(best, 4),
                "peak_mb": round(peak_mb, 1),
                "target_s": TARGET_S,
                "target_mb": TARGET_MB,
                "ratio_to_target": round(best / TARGET_S, 3),
                "meets_target": first < TARGET_S and peak_mb < TARGET_MB,
            }
        )
    return rows


@bench_section("correlate-nb201")
def correlate_nb201(data_dir=None, quick: bool = False, resamples: int = 1000, **_) -> list[dict]:
    """`correlate` of a noisy predictor over all 15,625 cells, 1,000 bootstrap resamples (--quick:
    only the 'all' convention)."""
    from harness.analysis.correlate import correlate
    from harness.benchmarks import load_benchmark

    try:
        truth = load_benchmark("nb201-cifar10", data_dir)
    except HarnessError as exc:
        return [{"benchmark": "nb201-cifar10", "status": "absent", "why": str(exc)[:160]}]
    import pandas as pd

    rng = np.random.default_rng(0)
    scores = truth.frame["accuracy"].to_numpy() + rng.normal(0, 5, len(truth.frame))
    predictions = pd.DataFrame({"key": truth.frame["key"], "score": scores})
    rows = []
    for networks in ("all", "distinct", "first"):
        start = time.perf_counter()
        result = correlate(predictions, truth, networks=networks, n_resamples=resamples, seed=0)
        rows.append({"benchmark": "nb201-cifar10", "status": "ok", "networks": networks,
                     "n": result.n, "resamples": resamples, "metrics": len(result.metrics),
                     "seconds": round(time.perf_counter() - start, 3),
                     "kendall_tau": round(result.metrics["kendall_tau"].value, 4)})
        if quick:
            break
    return rows
