"""A sampler from outside the harness (tests/plugins/least_drawn, a package of its own) gets what a
built-in one has, found the way an installed plug-in is found: an entry point in the
`nas_harness.plugins` group. The package is "installed" by putting its module and a dist-info
folder with its entry point on PYTHONPATH (what `pip install` writes), so the test needs no
network and leaves the environment as it was; `harness/` is not touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "tests" / "plugins" / "least_drawn"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A site folder holding the example as pip would install it (module + entry point)."""
    folder = tmp_path_factory.mktemp("site")
    shutil.copy(EXAMPLE / "nas_harness_least_drawn.py", folder)
    info = folder / "nas_harness_least_drawn-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nas-harness-least-drawn\n"
                                   "Version: 0.1.0\n")
    (info / "entry_points.txt").write_text("[nas_harness.plugins]\n"
                                           "least_drawn = nas_harness_least_drawn\n")
    return folder


def harness(site: Path, cwd: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    env.pop("HARNESS_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env)


def test_the_example_declares_its_entry_point():
    text = (EXAMPLE / "pyproject.toml").read_text()
    assert '[project.entry-points."nas_harness.plugins"]' in text
    assert 'least_drawn = "nas_harness_least_drawn"' in text


def test_a_plugin_sampler_is_listed_with_its_options_and_typed(site, tmp_path):
    listed = harness(site, tmp_path, "ls", "samplers")
    assert listed.returncode == 0, listed.stderr
    assert "least-drawn" in listed.stdout and "strength=2.0" in listed.stdout
    typo = harness(site, tmp_path, "train", "--space", "pooling", "--sampler", "least-drawn",
                   "--sampler-option", "strenght=3", "--out", tmp_path / "r")
    assert typo.returncode == 2 and "did you mean 'strength'" in typo.stderr
    assert not (tmp_path / "r").exists()
    without = harness(tmp_path, tmp_path, "ls", "samplers")  # not installed: not there
    assert "least-drawn" not in without.stdout


def test_a_plugin_sampler_trains_is_audited_evaluated_and_joins_table3(site, tmp_path, data_dir):
    data = str(Path(data_dir).resolve())
    run = tmp_path / "run"
    trained = harness(site, tmp_path, "train", "--space", "pooling", "--sampler", "least-drawn",
                      "--sampler-option", "strength=8", "--profile", "smoke", "--epochs", 3,
                      "--warmup-epochs", 1, "--quiet", "--out", run)
    assert trained.returncode == 0, trained.stderr
    audit = harness(site, tmp_path, "audit", run, "--json")
    assert audit.returncode == 0, audit.stderr
    audited = json.loads(audit.stdout)
    assert audited["sampler"] == "least-drawn" and audited["state"] == "done"
    assert audited["audit"]["n_draws"] == sum(audited["audit"]["counts"].values()) > 0
    assert "vs_uniform" in audited["audit"]["tests"]
    scored = harness(site, tmp_path, "evaluate", run, "--out", tmp_path / "scores.csv", "--quiet")
    assert scored.returncode == 0, scored.stderr
    table = harness(site, tmp_path, "reproduce", "table3", "--profile", "smoke", "--seeds", 0,
                    "--arm", "least-drawn:strength=8", "--runs-dir", tmp_path / "runs",
                    "--out", tmp_path / "report", "--data-dir", data, "--quiet")
    assert table.returncode == 0, table.stderr
    text = (tmp_path / "report" / "table3.md").read_text()
    row = next(line for line in text.splitlines() if "| least-drawn:strength=8 |" in line)
    assert "pooling-fmnist" in row
    paired = (tmp_path / "report" / "table3_paired.csv").read_text()
    assert "least-drawn:strength=8" in paired  # paired by seed with uniform


def test_the_example_sampler_does_what_its_name_says(site, monkeypatch):
    """After warm-up it evens the draws out: far less spread than uniform's multinomial."""
    import numpy as np

    monkeypatch.syspath_prepend(str(site))
    import nas_harness_least_drawn as plugin

    from harness.spaces import get_space

    space = get_space("pooling")

    def spread(strength: float) -> float:
        sampler = plugin.LeastDrawnSampler(space, 0, warmup_epochs=0, strength=strength)
        for step in range(3600):
            sampler.record([sampler.sample(step)])
        return float(np.std(list(sampler.counts.values())))

    uniform_sd = np.sqrt(100 * (1 - 1 / 36))  # 3600 draws over 36: multinomial SD about 9.9
    spreads = [spread(s) for s in (0.0, 2.0, 8.0, 32.0)]
    assert 0.6 * uniform_sd < spreads[0] < 1.4 * uniform_sd  # strength 0 is uniform
    assert spreads == sorted(spreads, reverse=True)  # the stronger, the more even
    assert spreads[2] < 0.3 * uniform_sd and spreads[3] < 0.2 * uniform_sd


def test_a_plugin_profile_is_a_profile_like_the_built_in_ones(tmp_path):
    """A module on HARNESS_PLUGINS registers a profile (the smoke recipe with one seed): `ls`
    lists it, every command's --profile accepts it, and the experiments size themselves by it."""
    (tmp_path / "one_seed_profile.py").write_text(
        "from dataclasses import replace\n"
        "from harness.profiles import get_profile, register_profile\n"
        "register_profile(replace(get_profile('smoke'), name='smoke-1seed',\n"
        "                         description='smoke with one seed', seeds=(0,)))\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "HARNESS_PLUGINS": "one_seed_profile"}
    listed = subprocess.run([sys.executable, "-m", "harness", "ls", "experiments", "--json"],
                            capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    runs = {e["name"]: e["runs"] for e in json.loads(listed.stdout)}
    assert runs["table3"]["smoke-1seed"] == 2 and runs["table3"]["smoke"] == 6
    refused = subprocess.run([sys.executable, "-m", "harness", "train", "--space", "pooling",
                              "--profile", "smoke-2seed", "--out", tmp_path / "r"],
                             capture_output=True, text=True, cwd=tmp_path, env=env)
    assert refused.returncode == 2 and "did you mean 'smoke-1seed'" in refused.stderr


def test_a_plugin_run_s_config_reads_without_the_plugin():
    """A run trained with a plug-in sampler still reads (evaluate, rescore, reports need no
    sampler) with the same hash; only building its sampler asks for the plug-in."""
    from harness.errors import UnknownNameError
    from harness.samplers import build_sampler
    from harness.spaces import get_space
    from harness.train.config import RunConfig, resolve_config

    record = resolve_config("pooling", "smoke").to_dict()
    # (a name no test loads: another test of this session may have loaded least-drawn)
    record.update(sampler="their-sampler", sampler_options={"strength": 4.0})
    config = RunConfig.from_dict(record)
    assert config.to_dict() == record and config.hash() == RunConfig.from_dict(record).hash()
    with pytest.raises(UnknownNameError, match="unknown sampler 'their-sampler'"):
        build_sampler(config.sampler, get_space("pooling"), 0, opts=config.sampler_options)
    with pytest.raises(UnknownNameError):  # a new config of it is refused, not recorded
        resolve_config("pooling", "smoke", sampler="their-sampler")
