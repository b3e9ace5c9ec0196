"""Equal networks get equal ids, old option names resolve to the shared vocabulary, and a genotype is checked
against the space it trains in."""

from __future__ import annotations

import pytest
import torch

import blocks
from nas.core import networks, spaces
from nas.core.genotypes import Genotype, GenotypeError, check_runs_in

# Pairs of spellings of one network: the second is the canonical id.
SAME_NETWORK = [
    ("x2.c16.u4:ca;ca(reduction=4.0)", "x2.c16.u4:ca;ca(reduction=4)"),
    ("x2.c16.u4:ca;ca(reduction=16)", "x2.c16.u4:ca"),
    ("x2.c16.u4:lia;lia(reduced=8)", "x2.c16.u4:lia;lia(inner_channels=8)"),
    ("x2.c16.u4:esa;esa(reduced=6)", "x2.c16.u4:esa;esa(inner_channels=6)"),
    ("x2.c16.u4:psa_s;psa_s(ratio=2)", "x2.c16.u4:psa_s;psa_s(reduction=2)"),
    ("x2.c16.u4:esa;esa(inner_channels=4)", "x2.c16.u4:esa"),  # RFDN's default: channels // 4
    ("x2.c16.u4:shuffle;shuffle(groups=8)", "x2.c16.u4:shuffle"),  # the largest group count that fits 16
    ("x2.c16.u4:a2b;a2b(temperature=30)", "x2.c16.u4:a2b"),
    ("x2.c16.u4:a2b;a2b(temperature=20)", "x2.c16.u4:a2b;a2b(temperature=20.0)"),
    ("x2.c16.u4:none-none-ca;ca(reduction=2)", "x2.c16.u4:none*2-ca;ca(reduction=2)"),
]


def seeded_state(genotype: Genotype) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return networks.build(genotype).state_dict()


@pytest.mark.parametrize(("spelling", "canonical"), SAME_NETWORK)
def test_spellings_of_one_network_share_the_canonical_id(spelling: str, canonical: str) -> None:
    genotype = Genotype.parse(spelling)
    assert str(genotype) == canonical
    assert Genotype.parse(canonical) == genotype
    built, reference = seeded_state(genotype), seeded_state(Genotype.parse(canonical))
    assert list(built) == list(reference)
    for key, tensor in reference.items():
        assert torch.equal(built[key], tensor), key


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("x2.c16.u4:lia", "x2.c16.u4:lia;lia(inner_channels=8)"),
        ("x2.c16.u4:esa", "x2.c16.u4:esa;esa(inner_channels=5)"),
        ("x2.c16.u4:shuffle", "x2.c16.u4:shuffle;shuffle(groups=4)"),
        ("x2.c16.u4:psa_s", "x2.c16.u4:psa_s;psa_s(reduction=2)"),
    ],
)
def test_different_networks_keep_different_ids(first: str, second: str) -> None:
    one, other = Genotype.parse(first), Genotype.parse(second)
    assert str(one) != str(other)
    shapes = {k: v.shape for k, v in seeded_state(one).items()}
    assert shapes != {k: v.shape for k, v in seeded_state(other).items()}


def test_psa_s_reduction_divides_the_half_width_value_channels() -> None:
    module = blocks.create("psa_s", 40, reduction=4)  # C/2 = 20 value channels, bottleneck 20 // 4
    assert module.conv_up[0].out_channels == 5
    assert blocks.create("psa_s", 40, ratio=2).conv_up[0].out_channels == 10  # the old name still works


def test_a_space_with_old_option_names_loads_them_under_the_new_ones() -> None:
    space = spaces.parse(
        {"name": "old", "scale": 2, "channels": 16, "depth": 2, "choices": ["lia", "psa_s"],
         "block_options": {"lia": {"reduced": 8}, "psa_s": {"ratio": 2.0}}, "proxy": {"patch_size": 16}}
    )  # fmt: skip
    assert space.block_options == {"lia": {"inner_channels": 8}, "psa_s": {"reduction": 2}}
    assert str(Genotype.resolve("uniform:lia", space)) == "x2.c16.u24:lia*2;lia(inner_channels=8)"


REDUCTION = r"reduction must be a positive integer up to 256 \(a divisor of the channel count.*\), got "


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lia": {"reduced": 8, "inner_channels": 8}}, "reduced and inner_channels are one option"),
        ({"ca": {"reduction": True}}, REDUCTION + "True"),
        ({"ca": {"reduction": 0}}, REDUCTION + "0"),
        ({"ca": {"reduction": "1e9"}}, REDUCTION + "1000000000.0"),  # YAML 1.1 reads 1e9 as a string
        ({"ca": {"reduction": [1, 2]}}, REDUCTION + r"\[1, 2\]"),
        ({"spatial": {"norm": 3}}, r"norm must be a string or null \(the default\), got 3"),
        ({"a2b": {"temperature": float("nan")}}, "temperature must be a finite number, got nan"),
    ],
)
def test_bad_block_options_in_a_space_name_the_block_option_and_value(options: dict, message: str) -> None:
    document = {"name": "bad", "scale": 2, "channels": 16, "depth": 2, "choices": ["none"], "block_options": options}
    with pytest.raises(spaces.SpaceError, match=rf"block_options\.{next(iter(options))}: .*{message}"):
        spaces.parse(document)


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("x2.c16.u4:ca;ca(reduction=4);ca(reduction=8)", GenotypeError, "the options of 'ca' are given twice"),
        ("x2.c16.u4:ca;ca(reduction=4,reduction=8)", GenotypeError, "option reduction is given twice"),
        ("x2.c16.u4:lia;lia(inner_channels=8,reduced=8)", blocks.BlockOptionError, "are one option"),
        ("x2.c16.u4:pa;ca(reduction=4)", GenotypeError, "options for 'ca', which is at no depth"),
        ("x2.c16.u4:ca;ca(reduction=true)", blocks.BlockOptionError, REDUCTION + "True"),
        ("x2.c16.u4:ca;ca(reduction=2.5)", blocks.BlockOptionError, REDUCTION + "2.5"),
    ],
)
def test_ids_naming_an_option_twice_or_a_bad_value_are_refused(text: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Genotype.parse(text)


def test_a_value_only_the_block_can_judge_is_refused_when_it_is_built() -> None:
    frozen = Genotype.parse("x2.c16.u4:a2b;a2b(temperature=0)")
    with pytest.raises(blocks.BlockOptionError, match="temperature=0.0 is not allowed; expected a number > 0"):
        networks.build(frozen)


def small_space(patch_size: int = 8, batch_size: int = 2) -> spaces.SearchSpace:
    return spaces.parse(
        {"name": "small", "scale": 2, "channels": 16, "upsampler_channels": 4, "depth": 2, "choices": ["none", "pa"],
         "proxy": {"patch_size": patch_size, "batch_size": batch_size}}
    )  # fmt: skip


SPACE = small_space()


def test_an_explicit_genotype_may_have_its_own_width_and_depth() -> None:
    wider = Genotype.parse("x2.c24.u12:pa*5")
    check_runs_in(wider, SPACE, training=True)
    network = networks.build(wider)
    assert len(network.slots) == 5 and network.conv_first.out_channels == 24


@pytest.mark.parametrize("training", [True, False])
def test_an_explicit_genotype_must_have_the_space_scale(training: bool) -> None:
    with pytest.raises(GenotypeError, match=r"is ×3 but space 'small' is ×2.*use an x2 id"):
        check_runs_in(Genotype.parse("x3.c24.u12:pa*5"), SPACE, training=training)


def test_to_train_every_block_must_fit_the_space_patches() -> None:
    esa = Genotype.parse("x2.c16.u4:pa-esa")
    with pytest.raises(GenotypeError, match=r"'esa' needs patches of at least 15×15.*patch_size is 8"):
        check_runs_in(esa, SPACE, training=True)
    check_runs_in(esa, SPACE, training=False)  # its cost does not depend on the patches
    large = small_space(patch_size=128, batch_size=8)
    with pytest.raises(GenotypeError, match=r"'pam' attends over all pixel pairs: 8.0 GiB"):
        check_runs_in(Genotype.parse("x2.c16.u4:pam-pa"), large, training=True)
