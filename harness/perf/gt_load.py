"""Load time of every ground-truth table whose files are present (target: under 1 s each)."""

from __future__ import annotations

import time

from harness.errors import HarnessError
from harness.perf import bench_section


@bench_section("gt-load")
def gt_load_times(data_dir=None, repeats: int = 3, **_) -> list[dict]:
    from harness.benchmarks import BENCHMARKS, load_benchmark

    rows = []
    for name in BENCHMARKS:
        times = []
        try:
            for _ in range(repeats):
                start = time.perf_counter()
                truth = load_benchmark(name, data_dir)
                times.append(time.perf_counter() - start)
        except HarnessError as exc:
            rows.append({"benchmark": name, "status": "absent", "why": str(exc)[:160]})
            continue
        best = min(times)
        rows.append(
            {
                "benchmark": name,
                "status": "ok",
                "rows": truth.n_architectures,
                "load_s": round(best, 4),
                "target_s": 1.0,
                "ratio_to_target": round(best / 1.0, 3),
                "meets_target": best < 1.0,
            }
        )
    return rows
