"""One-call GPU check: `python scripts/gpu_check.py OUT [--dry-run]` (or scripts/gpu_check.sh).

On a machine with a GPU it runs, in at most about 8 minutes, with no network and no dataset:
  1. the environment (torch, CUDA, GPUs);
  2. the `gpu`-marked tests (synthetic data);
  3. for every space at paper size (CIFAR 32x32x3; MobileNetV2 at 224x224x3) on synthetic data,
     with AMP and channels_last: supernet step vs stand-alone step of the same path (median and
     interquartile range of interleaved repeats), images/s and peak memory (`bench train-step`);
  4. loader images/s with CIFAR-shape data held on the GPU, beside training-step images/s;
  5. a 2-process torchrun smoke run (synthetic Fashion-MNIST-shaped data) when 2+ GPUs exist.
It writes OUT/summary.json (every step: command, exit code, seconds, parsed figures) and
OUT/summary.txt, plus each step's log. --dry-run writes and prints the plan without running it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BUDGET_S = 480
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # harness importable without an install, as the steps' `-m harness`


def run_step(cmd: list[str], timeout: int, env: dict) -> tuple[int, str, str]:
    """Run one step in its own process group; at the timeout the whole group is killed (a
    torchrun's workers too, so they do not keep holding the GPUs)."""
    import signal

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=REPO, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        return proc.returncode, stdout, stderr
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        return 124, stdout or "", (stderr or "") + f"\nkilled at the {timeout} s limit"


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


def steps(out: Path, n_gpus: int) -> list[dict]:
    py = sys.executable
    synthetic = out / "synthetic-fmnist"
    plan = [
        {"name": "environment", "timeout": 30, "cmd": [py, "-c", (
            "import json, torch, platform; print(json.dumps({'torch': torch.__version__, "
            "'cuda': torch.version.cuda, 'python': platform.python_version(), "
            "'gpus': [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}))")]},
        {"name": "gpu_tests", "timeout": 110, "cmd": [
            py, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
            f"--junitxml={out / 'gpu_tests.xml'}"]},
        {"name": "train_step", "timeout": 140, "cmd": [
            py, "-m", "harness", "bench", "--only", "train-step", "--device", "cuda",
            "--paper-size", "--amp", "--channels-last", "--json"]},
        {"name": "loader", "timeout": 60, "cmd": [
            py, "-m", "harness", "bench", "--only", "loader", "--device", "cuda", "--json"]},
    ]
    if n_gpus >= 2:
        plan.append({"name": "torchrun_2gpu", "timeout": 120, "synthetic": str(synthetic),
                     "cmd": [py, "-m", "torch.distributed.run", "--standalone",
                             "--nproc_per_node", "2", "-m", "harness", "train", "--space",
                             "pooling", "--sampler", "debiased", "--profile", "smoke",
                             "--device", "cuda", "--data-root", str(synthetic), "--out",
                             str(out / "torchrun_run"), "--quiet"]})
    else:
        plan.append({"name": "torchrun_2gpu", "skip": f"{n_gpus} GPU(s): needs 2"})
    return plan


def parse(name: str, stdout: str) -> dict:
    """The figures worth a line in the summary."""
    try:
        if name == "environment":
            return json.loads(stdout.strip().splitlines()[-1])
        if name in ("train_step", "loader"):
            section = "train-step" if name == "train_step" else "loader"
            return {"rows": json.loads(stdout)[section]}
        if name == "gpu_tests":
            return {"result": stdout.strip().splitlines()[-1] if stdout.strip() else ""}
    except (json.JSONDecodeError, IndexError, KeyError):
        return {"unparsed": stdout[-500:]}
    return {}


def summary_lines(results: list[dict]) -> list[str]:
    lines = []
    for r in results:
        head = f"{r['name']}: " + (f"skipped ({r['skip']})" if "skip" in r else
                                   f"exit {r['rc']} in {r['seconds']:.0f} s")
        lines.append(head)
        figures = r.get("figures", {})
        if r["name"] == "gpu_tests" and figures.get("result"):
            lines.append(f"  {figures['result']}")
        for row in figures.get("rows", []):
            if "space" in row:
                lines.append(
                    f"  {row['space']:<10} {row['input']:<11} batch {row['batch']:>4}: ratio "
                    f"{row['ratio_median']:.3f} [IQR {row['ratio_q25']:.3f}-{row['ratio_q75']:.3f}]"
                    f", {row['supernet_images_per_s']:.0f} img/s, peak "
                    f"{row.get('peak_memory_mib', float('nan')):.0f} MiB, target "
                    f"{row['target']} {'met' if row['meets_target'] else 'MISSED'}")
            elif "loader_images_per_s" in row:
                lines.append(f"  loader {row['loader_images_per_s']:.0f} img/s vs train step "
                             f"{row['train_step_images_per_s']:.0f} img/s")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="Folder for summary.json, summary.txt and logs.")
    parser.add_argument("--dry-run", action="store_true", help="Print and write the plan only.")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    n_gpus = gpu_count()
    plan = steps(out, n_gpus if not args.dry_run else max(n_gpus, 2))
    total = sum(s.get("timeout", 0) for s in plan)
    if args.dry_run:
        for s in plan:
            print(f"{s['name']} (at most {s.get('timeout', 0)} s): "
                  + (s["skip"] if "skip" in s else " ".join(s["cmd"])))
        print(f"at most {total} s in all (budget {BUDGET_S} s); {n_gpus} GPU(s) here")
        (out / "plan.json").write_text(json.dumps({"steps": plan, "gpus_here": n_gpus,
                                                   "max_seconds": total}, indent=1))
        return 0
    if n_gpus == 0:
        print("no CUDA device here: run with --dry-run to see the plan", file=sys.stderr)
        return 2
    env = {**os.environ, "HARNESS_DATA_DIR": os.environ.get("HARNESS_DATA_DIR", "")}
    results = []
    for s in plan:
        if "skip" in s:
            results.append(s)
            continue
        if "synthetic" in s:
            from harness.data.formats import write_synthetic_fashion_mnist

            write_synthetic_fashion_mnist(s["synthetic"], 4096, 1024)
        started = time.perf_counter()
        rc, stdout, stderr = run_step(s["cmd"], s["timeout"], env)
        seconds = time.perf_counter() - started
        (out / f"{s['name']}.log").write_text(stdout + "\n--- stderr ---\n" + stderr)
        results.append({**s, "rc": rc, "seconds": round(seconds, 1),
                        "figures": parse(s["name"], stdout)})
        (out / "summary.json").write_text(json.dumps(results, indent=1))
    lines = summary_lines(results)
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(r.get("rc", 0) == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
