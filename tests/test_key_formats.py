"""Keys from other codebases (issue 20): each named format against an independent rewrite of
that codebase's own rule, round trips over whole spaces, `auto` refusing what can be confused,
files as users have them, a lower-is-better score, and `gt show`'s tie rule."""

from __future__ import annotations

import gzip
import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harness.cli.main import cli
from harness.errors import ArchKeyError
from harness.spaces import get_space
from harness.spaces.formats import KEY_FORMATS, formats_of, resolve_keys

NB201 = get_space("nb201")
ALL_NB201 = list(itertools.product(range(5), repeat=6))


def run(*args, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


# --- each codebase's rule, rewritten here from its source's facts -------------------------

def naslib_string(op_indices) -> str:
    """NASLib conversions.py: edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4) (1-based, from->to),
    ops skip_connect, none, nor_conv_3x3, nor_conv_1x1, avg_pool_3x3; the string lists each
    target node's edges in list order, sorted (stably) by target."""
    edges = [(1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)]
    names = ["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]
    by_edge = dict(zip(edges, (names[i] for i in op_indices)))
    entries = [f"{by_edge[e]}~{e[0] - 1}" for e in sorted(by_edge, key=lambda e: e[1])]
    return "|{}|+|{}|{}|+|{}|{}|{}|".format(*entries)


def pada_string(gene) -> str:
    """PA&DA: gene[edge2index['i<-j']] with edge names sorted, ops NAS_BENCH_201."""
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    names = sorted(f"{i}<-{j}" for i in range(1, 4) for j in range(i))
    index = {name: k for k, name in enumerate(names)}
    nodes = ["|" + "|".join(f"{ops[gene[index[f'{i}<-{j}']]]}~{j}" for j in range(i)) + "|"
             for i in range(1, 4)]
    return "+".join(nodes)


def nni_dict(arch_str: str) -> dict:
    """nni db_gen.parse_arch_str: a regex over the official string, ops renamed."""
    rename = {"none": "none", "skip_connect": "skip_connect", "nor_conv_1x1": "conv_1x1",
              "nor_conv_3x3": "conv_3x3", "avg_pool_3x3": "avg_pool_3x3"}
    m = re.match(r"\|(.*)~0\|\+\|(.*)~0\|(.*)~1\|\+\|(.*)~0\|(.*)~1\|(.*)~2\|", arch_str)
    return dict(zip(["0_1", "0_2", "1_2", "0_3", "1_3", "2_3"],
                    (rename[m.group(k)] for k in range(1, 7))))


def test_naslib_pada_and_nni_read_every_cell_as_their_codebases_mean_it():
    naslib, pada, nni = (KEY_FORMATS.get(n) for n in ("naslib", "pada", "nni"))
    for ints in ALL_NB201:
        assert NB201.key(naslib.parse(list(ints))) == naslib_string(ints)
        assert NB201.key(pada.parse(list(ints))) == pada_string(ints)
    for arch in ALL_NB201[::7]:
        key = NB201.key(arch)
        assert nni.parse(nni_dict(key)) == arch
        assert nni.parse(json.dumps(nni_dict(key))) == arch
    # the same six integers are different cells in NASLib and PA&DA
    assert naslib.parse("(4, 3, 3, 0, 0, 0)") != pada.parse("(4, 3, 3, 0, 0, 0)")


def test_every_format_round_trips_over_the_whole_space():
    spaces = {"nb201": ALL_NB201, "nb-macro": list(get_space("nb-macro").enumerate()),
              "pooling": list(get_space("pooling").enumerate())}
    for space, archs in spaces.items():
        formats = formats_of(space)
        assert len(formats) >= 2
        for a, b in itertools.permutations(formats, 2):
            differences = 0
            for x in archs:
                text_a = a.write(x)
                text_b = b.write(a.parse(text_a))
                differences += a.write(b.parse(text_b)) != text_a or a.parse(text_a) != x
            assert differences == 0, (a.name, b.name)


def test_space_convert_round_trips_all_cells_through_the_cli(tmp_path):
    frame = pd.DataFrame({"key": [NB201.key(a) for a in ALL_NB201],
                          "score": np.arange(len(ALL_NB201), dtype=float)})
    start = tmp_path / "strings.csv"
    frame.to_csv(start, index=False)
    for other in ("naslib", "pada", "nni", "nb201-index"):
        there, back = tmp_path / f"{other}.csv", tmp_path / f"{other}-back.csv"
        run("space", "convert", start, "--from", "nb201-string", "--to", other, "--out", there)
        run("space", "convert", there, "--from", other, "--to", "nb201-string", "--out", back)
        again = pd.read_csv(back, dtype={"key": str})
        assert int((again["key"] != frame["key"]).sum()) == 0
        assert (again["score"] == frame["score"]).all()
    macro = get_space("nb-macro")
    codes = pd.DataFrame({"key": [macro.key(a) for a in macro.enumerate()]})
    codes.to_csv(tmp_path / "codes.csv", index=False)
    run("space", "convert", tmp_path / "codes.csv", "--from", "macro", "--to", "macro-int",
        "--out", tmp_path / "ints.csv")
    ints = pd.read_csv(tmp_path / "ints.csv")  # read as integers: the zeros are gone
    assert ints["key"].dtype.kind == "i" and (ints["key"].astype(str).str.len() < 8).sum() == 2187
    run("space", "convert", tmp_path / "ints.csv", "--from", "macro-int", "--to", "macro",
        "--out", tmp_path / "codes-back.csv")
    back = pd.read_csv(tmp_path / "codes-back.csv", dtype={"key": str})
    assert int((back["key"] != codes["key"]).sum()) == 0


def test_auto_refuses_what_can_be_confused_and_names_the_formats():
    with pytest.raises(ArchKeyError, match="naslib, nni, pada|naslib, pada"):
        resolve_keys(["(4, 3, 3, 0, 0, 0)", "[0, 1, 2, 3, 4, 0]"], "nb201")
    with pytest.raises(ArchKeyError, match="--key-format nb201-index"):
        resolve_keys(["0", "1", "6111"], "nb201")
    with pytest.raises(ArchKeyError, match="--key-format macro-int"):
        resolve_keys(["22212220", "2012100", "100"], "nb-macro")
    # what cannot be confused is read without a format
    assert resolve_keys(["index:6111", NB201.key(ALL_NB201[3])], "nb201")[1] == ALL_NB201[3]
    with pytest.raises(ArchKeyError, match="is a nb201 format, not a nb-macro one"):
        resolve_keys(["22212220"], "nb-macro", "naslib")


@pytest.fixture(scope="module")
def nb201_predictions(data_dir):
    from harness.benchmarks import load_benchmark

    truth = load_benchmark("nb201-cifar10", data_dir).frame
    rng = np.random.default_rng(0)
    rows = truth.sample(400, random_state=1)
    score = rows["accuracy"].to_numpy() + rng.normal(0, 3, len(rows))
    archs = [NB201.parse(k) for k in rows["key"]]
    return archs, score


def correlate_tau(path, *options, data_dir):
    result = run("correlate", path, "-b", "nb201-cifar10", "--bootstrap", 0, "--json",
                 "--data-dir", data_dir, *options)
    return json.loads(result.stdout)["metrics"]["kendall_tau"]["value"], result


def test_correlate_gives_one_kendall_in_every_format_and_file_form(tmp_path, data_dir,
                                                                    nb201_predictions):
    archs, score = nb201_predictions
    fmt = KEY_FORMATS.get("nb201-string")
    base = pd.DataFrame({"key": [fmt.write(a) for a in archs], "score": score})
    base.to_csv(tmp_path / "official.csv", index=False)
    tau, _ = correlate_tau(tmp_path / "official.csv", data_dir=data_dir)
    assert 0.3 < tau < 0.95
    for name in ("naslib", "pada", "nni", "nb201-index"):
        frame = base.assign(key=[KEY_FORMATS.get(name).write(a) for a in archs])
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        assert correlate_tau(tmp_path / f"{name}.csv", "--key-format", name,
                             data_dir=data_dir)[0] == tau
    forms = {
        "scores.json": json.dumps(dict(zip(base["key"], base["score"]))),
        "records.json": base.to_json(orient="records"),
        "scores.jsonl": base.to_json(orient="records", lines=True),
        "scores.tsv": base.to_csv(sep="\t", index=False),
        "scores.ssv": base.to_csv(sep=";", index=False),
    }
    for name, text in forms.items():
        (tmp_path / name).write_text(text)
        assert correlate_tau(tmp_path / name, data_dir=data_dir)[0] == tau, name
    (tmp_path / "scores.csv.gz").write_bytes(gzip.compress(base.to_csv(index=False).encode()))
    assert correlate_tau(tmp_path / "scores.csv.gz", data_dir=data_dir)[0] == tau
    # nni dicts as JSON records, the dict itself in the key field
    records = [{"key": nni_dict(k), "score": s} for k, s in zip(base["key"], base["score"])]
    (tmp_path / "nni.json").write_text(json.dumps(records))
    assert correlate_tau(tmp_path / "nni.json", "--key-format", "nni", data_dir=data_dir)[0] == tau


def test_a_loss_needs_lower_is_better_and_a_wrong_sign_is_warned(tmp_path, data_dir,
                                                                 nb201_predictions):
    archs, score = nb201_predictions
    keys = [NB201.key(a) for a in archs]
    pd.DataFrame({"key": keys, "score": score}).to_csv(tmp_path / "acc.csv", index=False)
    pd.DataFrame({"key": keys, "score": 100 - score}).to_csv(tmp_path / "loss.csv", index=False)
    tau, _ = correlate_tau(tmp_path / "acc.csv", data_dir=data_dir)
    inverted, result = correlate_tau(tmp_path / "loss.csv", data_dir=data_dir)
    assert inverted == pytest.approx(-tau) and "--lower-is-better" in result.stderr
    fixed, result = correlate_tau(tmp_path / "loss.csv", "--lower-is-better", data_dir=data_dir)
    assert fixed == pytest.approx(tau) and "warning" not in result.stderr
    _, result = correlate_tau(tmp_path / "acc.csv", data_dir=data_dir)
    assert "warning" not in result.stderr


def test_macro_integers_get_a_hint_then_read_with_their_format(tmp_path, data_dir):
    from harness.benchmarks import load_benchmark

    truth = load_benchmark("nb-macro", data_dir).frame
    frame = pd.DataFrame({"key": truth["key"].astype(int), "score": truth["accuracy"]})
    frame.to_csv(tmp_path / "ints.csv", index=False)
    refused = run("correlate", tmp_path / "ints.csv", "-b", "nb-macro", "--bootstrap", 0,
                  "--data-dir", data_dir, ok=False)
    assert refused.exit_code == 2 and "2187 of 6561 keys" in refused.output
    assert "--key-format macro-int" in refused.output
    ok = run("correlate", tmp_path / "ints.csv", "-b", "nb-macro", "--bootstrap", 0, "--json",
             "--key-format", "macro-int", "--data-dir", data_dir)
    assert json.loads(ok.stdout)["metrics"]["kendall_tau"]["value"] == pytest.approx(1.0)


def test_gt_show_breaks_ties_by_the_lowest_official_index(data_dir):
    summary = json.loads(run("gt", "show", "nb201-cifar10", "--json", "--data-dir",
                             data_dir).stdout)
    assert summary["best_accuracy"] == pytest.approx(94.3733)
    assert summary["best_ties"] == 2 and summary["best_index"] == 6111
    assert NB201.official_index(NB201.parse(summary["best_key"])) == 6111
    text = run("gt", "show", "nb-macro", "--data-dir", data_dir).output
    assert re.search(r"best_n_seeds\s+3", text) and re.search(r"best_index\s+not in", text)


def test_evaluate_reads_its_archs_file_in_a_named_format(tmp_path):
    from harness.evaluate.supernet_eval import resolve_archs

    archs = ALL_NB201[100:110]
    naslib = KEY_FORMATS.get("naslib")
    (tmp_path / "archs.tsv").write_text("key\n" + "\n".join(naslib.write(a) for a in archs) + "\n")
    assert resolve_archs(NB201, str(tmp_path / "archs.tsv"), key_format="naslib") == archs
    (tmp_path / "archs.txt").write_text("\n".join(NB201.key(a) for a in archs) + "\n")
    assert resolve_archs(NB201, str(tmp_path / "archs.txt")) == archs
    with pytest.raises(ArchKeyError, match="naslib, nni, pada|naslib, pada"):
        resolve_archs(NB201, str(tmp_path / "archs.tsv"))
