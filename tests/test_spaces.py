"""Search spaces: sizes, distinct counts, keys, parsing, equivalence, distance and sampling."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chisquare

from harness.errors import ArchKeyError
from harness.spaces import get_space
from harness.spaces.mobilenet import STAGES as MBV2_STAGES
from harness.spaces.mobilenet import op_spec
from harness.spaces.nb201 import unique_str
from harness.spaces.nb_macro import STAGES as MACRO_STAGES

ENUMERABLE = ["pooling", "nb-macro", "nb201"]
ALL = [*ENUMERABLE, "mobilenet"]


@pytest.fixture(scope="module")
def pooling():
    return get_space("pooling")


@pytest.fixture(scope="module")
def macro():
    return get_space("nb-macro")


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


@pytest.fixture(scope="module")
def mbv2():
    return get_space("mobilenet")


# --- sizes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, size, n_distinct",
    [
        ("pooling", 36, 36),
        ("nb-macro", 6561, 3969),
        ("nb201", 15625, 6466),
        ("mobilenet", 13**21, None),
    ],
)
def test_size_and_distinct(name, size, n_distinct):
    space = get_space(name)
    assert space.size == size
    assert space.n_distinct == n_distinct
    assert space.enumerable == (n_distinct is not None)
    assert space.description and space.name == name


@pytest.mark.parametrize("name", ENUMERABLE)
def test_enumeration_matches_size_and_is_valid(name):
    space = get_space(name)
    archs = list(space.enumerate())
    assert len(archs) == len(set(archs)) == space.size
    assert all(space.is_valid(a) for a in archs)


def test_mobilenet_not_enumerable(mbv2):
    with pytest.raises(ArchKeyError):
        next(mbv2.enumerate())


def test_stage_constants():
    assert MACRO_STAGES == ((0, 1), (2, 3, 4), (5, 6, 7))
    assert sum(layers for _, layers, _ in MBV2_STAGES) == 21


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENUMERABLE)
def test_round_trip_all(name):
    space = get_space(name)
    for arch in space.enumerate():
        assert space.parse(space.key(arch)) == arch


def test_round_trip_mobilenet_sampled(mbv2):
    rng = np.random.default_rng(0)
    for _ in range(500):
        arch = mbv2.sample(rng)
        key = mbv2.key(arch)
        assert len(key) == 21
        assert mbv2.parse(key) == arch
        assert mbv2.parse(key.upper()) == arch


# --- pooling forms and ids --------------------------------------------------------------------


def test_pooling_ids_and_forms(pooling):
    archs = list(pooling.enumerate())
    assert [pooling.bench_id(a) for a in archs] == list(range(1, 37))
    assert pooling.pools(archs[0]) == (1, 2)

    resnet20 = archs[23]
    assert pooling.key(resnet20) == "0000100100"
    for text in [
        "[4,3,3]",
        "4,3,3",
        "4-3-3",
        " [4, 3, 3] ",
        "id:24",
        "ID:24",
        "#24",
        "24",
        "0000100100",
        "0,0,0,0,1,0,0,1,0,0",
    ]:
        assert pooling.parse(text) == resnet20, text
    assert pooling.blocks(resnet20) == (4, 3, 3)

    id34 = pooling.from_id(34)
    assert pooling.key(id34) == "0000000110"
    assert id34 == pooling.parse("[7,1,2]") == pooling.from_blocks(7, 1, 2)
    assert pooling.blocks(pooling.parse("id:1")) == (1, 1, 8)
    assert pooling.key(pooling.parse("#36")) == "0000000011"


def test_pooling_blocks_ids_consistent(pooling):
    for arch in pooling.enumerate():
        assert pooling.from_blocks(*pooling.blocks(arch)) == arch
        assert pooling.from_id(pooling.bench_id(arch)) == arch
        assert sum(pooling.blocks(arch)) == 10


# --- malformed keys ---------------------------------------------------------------------------

BAD_KEYS = {
    "pooling": [
        "",
        "   ",
        "1000100100",
        "0000000000",
        "0000100110",
        "000010010",
        "00001001000",
        "0000200100",
        "00001x0100",
        "[4,3]",
        "[4,3,3,0]",
        "[0,4,6]",
        "[4,4,4]",
        "[5,5,0]",
        "4,3,3]",
        "[4;3;3]",
        "id:0",
        "id:37",
        "#0",
        "#99",
        "id:x",
        "#",
        "0",
        "37",
        "123",
        "-1,5,6",
        "4.0,3,3",
        "resnet20",
        "0,0,0,0,1,0,0,1,0,1",
    ],
    "nb-macro": [
        "",
        "2221222",
        "222122200",
        "22212223",
        "2221222a",
        "2 2212220",
        "-2212220",
        "identity",
        "2,2,2,1,2,2,2,0",
    ],
    "nb201": [
        "",
        "|none~0|+|none~0|none~1|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|",
        "|none~0|+|none~0|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~0|+|none~1|none~0|+|none~0|none~1|none~2|",
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2",
        "|none~0||+|none~0|none~1|+|none~0|none~1|none~2|",
        "|NONE~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "012340",
        "index:",
        "index:-1",
        "index:15625",
        "index:abc",
    ],
    "mobilenet": [
        "",
        "0" * 20,
        "0" * 22,
        "0" * 20 + "d",
        "0" * 20 + "-",
        "0" * 10 + " " + "0" * 10,
    ],
}


@pytest.mark.parametrize("name, text", [(n, t) for n, ks in BAD_KEYS.items() for t in ks])
def test_malformed_keys_rejected(name, text):
    with pytest.raises(ArchKeyError) as info:
        get_space(name).parse(text)
    message = str(info.value)
    assert "\n" not in message
    assert repr(text) in message and "expected" in message


# --- Hamming ----------------------------------------------------------------------------------


def test_hamming(pooling, macro, nb201, mbv2):
    p = pooling.parse
    assert pooling.hamming(p("[4,3,3]"), p("0000100100")) == 0
    assert pooling.hamming(p("0000100100"), p("0000010100")) == 2  # pools 4,7 vs 5,7
    assert pooling.hamming(p("0110000000"), p("0000000011")) == 4
    assert len(pooling.encoding(p("#1"))) == 10

    assert macro.hamming(macro.parse("22212220"), macro.parse("22212221")) == 1
    assert macro.hamming(macro.parse("00000000"), macro.parse("12121212")) == 8

    a = nb201.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    b = nb201.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert nb201.hamming(a, b) == 2

    assert mbv2.hamming(mbv2.parse("0" * 21), mbv2.parse("c" + "0" * 19 + "1")) == 2


# --- equivalence ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENUMERABLE)
def test_canonical_idempotent_and_class_preserving(name):
    space = get_space(name)
    for arch in space.enumerate():
        rep = space.canonical(arch)
        assert space.is_valid(rep)
        assert space.canonical(rep) == rep


def test_pooling_canonical_is_identity(pooling):
    assert all(pooling.canonical(a) == a for a in pooling.enumerate())


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("22102000", "22120000", True),  # stage 2: free identity at layer 3 moves to layer 4
        ("00010000", "00001000", True),  # lone op in the free part of stage 2
        ("00000102", "00000120", True),  # stage 3, layers 6-7
        ("10000000", "10000000", True),
        ("20000000", "02000000", False),  # layer 0 is the stride-2 slot of stage 1
        ("00100000", "00010000", False),  # layer 2 is the stride-2 slot of stage 2
        ("00000012", "00000102", False),  # layer 5 is the stride-2 slot of stage 3
        ("00012000", "00021000", False),  # order of non-identities matters
        ("01000000", "00100000", False),  # identities do not cross stages
    ],
)
def test_nb_macro_equivalence(macro, a, b, same):
    ca, cb = macro.canonical_key(a), macro.canonical_key(b)
    assert (ca == cb) == same
    assert macro.canonical_key(ca) == ca


def test_nb_macro_canonical_form(macro):
    assert macro.canonical_key("22102000") == "22120000"
    assert macro.canonical_key("01002001") == "01020010"
    assert macro.canonical_key("22212220") == "22212220"


def test_nb201_dead_node3_cells_equivalent(nb201):
    dead = [a for a in nb201.enumerate() if a[3:] == (0, 0, 0)]
    assert len(dead) == 125
    assert len({nb201.canonical(a) for a in dead}) == 1
    assert nb201.canonical(dead[-1]) == (0, 0, 0, 0, 0, 0)


def test_nb201_zero_node1_makes_its_edges_irrelevant(nb201):
    # node 1 is zero (edge 1<-0 is none), so edges 2<-1 and 3<-1 cannot matter.
    classes = {nb201.canonical((0, 3, e21, 2, e31, 4)) for e21 in range(5) for e31 in range(5)}
    assert len(classes) == 1


def test_nb201_skip_routes_and_distinct_ops(nb201):
    # conv3x3 on node 0 reached directly or through a skip to node 1: the same network.
    via_skip = nb201.parse("|skip_connect~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|")
    direct = nb201.parse("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    assert nb201.canonical(via_skip) == nb201.canonical(direct)
    # terms into a node commute: node 1 = skip(node 0), so the two edges into node 3 swap.
    a = nb201.parse("|skip_connect~0|+|none~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|")
    b = nb201.parse("|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|")
    assert nb201.canonical(a) == nb201.canonical(b)
    conv1 = nb201.parse("|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|")
    conv3 = nb201.parse("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    assert nb201.canonical(conv1) != nb201.canonical(conv3)


def test_nb201_unique_str_official_convention(nb201):
    resnet_like = nb201.parse(
        "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
    )
    assert unique_str(resnet_like) == "#+#+0"
    # zero terms are kept as '#', and a node is zero only when its string is exactly '#'.
    assert unique_str((0, 0, 0, 0, 0, 3)) == "#+#+(#+#)@nor_conv_3x3"
    for arch in itertools.islice(nb201.enumerate(), 0, None, 97):
        assert unique_str(nb201.canonical(arch)) == unique_str(arch)


def test_nb201_index_is_the_official_api_index(nb201, data_dir):
    # Rows 0, 11 and 284 of the official records (NATS-Bench's own sample files).
    reference = json.loads((data_dir / "nb201" / "nb201_reference_samples.json").read_text())
    for n in ("0", "11", "284"):
        record = reference["architectures"][n]
        arch = nb201.parse(f"index:{n}")
        assert nb201.key(arch) == record["arch_str"]
        assert nb201.official_index(arch) == int(n)
        assert nb201.key_forms(arch) == [record["arch_str"], f"index:{n}"]
    # Enumeration keeps product order; the official order is a permutation of it.
    archs = list(nb201.enumerate())
    assert nb201.key(archs[0]) == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert sorted(nb201.official_index(a) for a in archs) == list(range(15625))
    assert nb201.parse("index:0") == archs[13931]


def test_nb201_official_order_matches_every_published_row(nb201, data_dir):
    frame = pd.read_csv(data_dir / "nb201" / "nb201_test_acc_200ep_seedmean.csv")
    assert len(frame) == 15625
    ours = [nb201.key(nb201.parse(f"index:{n}")) for n in range(15625)]
    assert ours == list(frame["ArchitectureString"])


def test_nb201_first_member_has_the_lowest_official_index(nb201):
    arch = nb201.parse("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")
    members = nb201.equivalence_class(arch)
    assert arch in members and len(members) > 1
    assert all(nb201.canonical(m) == nb201.canonical(arch) for m in members)
    first = nb201.first_member(arch)
    assert nb201.official_index(first) == min(nb201.official_index(m) for m in members)


def test_mobilenet_canonical(mbv2):
    arch = mbv2.parse("1020" + "0304" + "0000" + "5006" + "c0b0" + "0")
    assert mbv2.key(mbv2.canonical(arch)) == "1200" + "0340" + "0000" + "5600" + "cb00" + "0"
    assert mbv2.canonical(mbv2.canonical(arch)) == mbv2.canonical(arch)


def test_mobilenet_ops():
    assert op_spec(0) == (None, None, False)
    assert op_spec(1) == (3, 3, False)
    assert op_spec(2) == (3, 3, True)
    assert op_spec(12) == (6, 7, True)
    assert op_spec("mb6_k5_se") == (6, 5, True)
    specs = {op_spec(i) for i in range(1, 13)}
    assert specs == set(itertools.product((3, 6), (3, 5, 7), (False, True)))
    with pytest.raises(ValueError):
        op_spec(13)


# --- sampling ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_sampling_reproducible(name):
    space = get_space(name)

    def draw(seed: int) -> list:
        rng = np.random.default_rng(seed)
        return [space.sample(rng) for _ in range(50)]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)
    assert all(space.is_valid(a) for a in draw(3))


def test_pooling_sampling_uniform(pooling):
    rng = np.random.default_rng(1)
    index = {a: i for i, a in enumerate(pooling.enumerate())}
    counts = np.zeros(36)
    for _ in range(36000):
        counts[index[pooling.sample(rng)]] += 1
    assert chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("name", ["nb-macro", "mobilenet"])
def test_per_position_marginals_uniform(name):
    space = get_space(name)
    rng = np.random.default_rng(2)
    draws = np.array([space.sample(rng) for _ in range(3000)])
    for pos, choices in enumerate(space.choices):
        counts = np.bincount(draws[:, pos], minlength=len(choices))
        assert chisquare(counts).pvalue > 1e-3, pos
