"""`nas-harness space show SPACE --arch KEY`: key forms, official index, class, params and FLOPs."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli.main import cli


def show(*args, data_dir=None):
    extra = ["--data-dir", str(data_dir)] if data_dir else []
    result = CliRunner().invoke(cli, ["space", "show", *args, "--json", *extra])
    return result.exit_code, result.output


@pytest.mark.parametrize("index, dataset", [("0", "cifar10"), ("11", "cifar100"),
                                            ("284", "imagenet16-120")])
def test_nb201_facts_equal_the_official_record(data_dir, index, dataset):
    record = json.loads((data_dir / "nb201" / "nb201_reference_samples.json").read_text())[
        "architectures"][index]
    api_dataset = {"imagenet16-120": "ImageNet16-120"}.get(dataset, dataset)
    code, out = show("nb201", "--arch", f"index:{index}", "--dataset", dataset, data_dir=data_dir)
    assert code == 0, out
    facts = json.loads(out)
    assert facts["key"] == record["arch_str"] and facts["official_index"] == int(index)
    assert f"index:{index}" in facts["forms"]
    official = record["hp"]["200"][api_dataset]["cost"]
    assert facts["cost"]["params"] == round(official["params"] * 1e6)
    assert facts["cost"]["flops"] == round(official["flops"] * 1e6)
    assert facts["official_record"]["params"] == facts["cost"]["params"]
    members = facts["class"]["members"]
    assert facts["key"] in members or facts["class"]["size"] > len(members)


def test_nb201_class_of_an_isomorphic_cell():
    code, out = show("nb201", "--arch",
                     "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")
    facts = json.loads(out)
    assert code == 0 and facts["class"]["size"] == len(facts["class"]["members"]) > 1
    assert facts["class"]["first_official_index"] <= facts["official_index"]
    assert facts["cost"]["dataset"] == "cifar10"  # the paper profile's dataset by default


def test_pooling_forms_and_benchmark_id():
    code, out = show("pooling", "--arch", "id:18")
    facts = json.loads(out)
    assert code == 0
    assert facts["forms"] == ["0001001000", "[3,3,4]", "3-3-4", "id:18"]
    assert facts["official_index"] == 18 and facts["class"]["size"] == 1


def test_nb_macro_cost_equals_the_published_json(data_dir):
    from harness.benchmarks import load_benchmark

    row = load_benchmark("nb-macro", data_dir).frame.set_index("key").loc["22212220"]
    code, out = show("nb-macro", "--arch", "22212220")
    facts = json.loads(out)
    assert code == 0
    assert (facts["cost"]["params"], facts["cost"]["flops"]) == (row["params"], row["flops"])
    # Identities sink to a stage's end: the class holds every placement of them.
    assert facts["class"]["size"] >= 1 and facts["official_index"] is None


def test_mobilenet_is_not_enumerated_and_costs_at_imagenet_size():
    code, out = show("mobilenet", "--arch", "1" * 21, "--members", "3")
    facts = json.loads(out)
    assert code == 0, out
    assert facts["class"] == {**facts["class"], "size": 1, "enumerated": False}
    assert facts["cost"]["input_size"] == 224 and facts["cost"]["num_classes"] == 1000


@pytest.mark.parametrize("args, fragment", [
    (["nb201", "--arch", "index:0", "--dataset", "cifarx"], "unknown dataset 'cifarx'"),
    (["nb201", "--dataset", "cifar10"], "--dataset needs --arch"),
    (["nb201", "--arch", "index:15625"], "index must be an integer"),
])
def test_bad_input_is_one_line(args, fragment):
    result = CliRunner().invoke(cli, ["space", "show", *args])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], lines
