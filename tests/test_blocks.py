"""Conformance tests run for every registered block: a new block is covered without writing a test."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import blocks
from nas.core import initial_weights

CHANNELS = 40
SIZES = [(1, 1), (5, 7), (33, 17), (48, 48)]

# Official parameter counts at C = 40 with default options.
OFFICIAL_PARAMS = {
    "a2b": 62_860,
    "lia": 8_776,
    "psa_p": 3_240,
    "psa_s": 2_795,
    "pam": 2_051,
    "cam": 1,
    "pa": 1_640,
    "esa": 4_600,
}


def perturbed(name: str, seed: int = 0) -> torch.nn.Module:
    """The block with every parameter moved off its initial value.

    Zero-initialised gates (DANet's and FLANet's gamma, SA-Net's scales) hide the rest of a module at
    initialisation; moving them makes every parameter matter for the checks below.
    """
    torch.manual_seed(seed)
    module = blocks.create(name, CHANNELS)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return module


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", blocks.names())
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_output_shape_equals_input_shape(name: str, size: tuple[int, int]) -> None:
    x = torch.randn(2, CHANNELS, *size)
    assert perturbed(name)(x).shape == x.shape


@pytest.mark.parametrize("name", blocks.names())
def test_seeded_initial_weights_do_not_depend_on_the_global_generator(name: str) -> None:
    """Every random initial value comes from some ``reset_parameters``, so seeding per module reaches it all."""
    drawn = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        drawn.append(initial_weights.initialise(blocks.create(name, CHANNELS), seed=0).state_dict())
    assert drawn[0].keys() == drawn[1].keys()
    for key in drawn[0]:
        assert torch.equal(drawn[0][key], drawn[1][key]), key


@pytest.mark.parametrize("name", blocks.names())
def test_seeded_initial_weights_keep_each_blocks_own_initialisation(name: str) -> None:
    """Re-drawn weights have the spread the constructor gives them (PSA's Kaiming-normal convs included)."""
    torch.manual_seed(0)
    constructed = dict(blocks.create(name, CHANNELS).named_parameters())
    seeded = dict(initial_weights.initialise(blocks.create(name, CHANNELS), seed=3).named_parameters())
    for key, tensor in constructed.items():
        if tensor.numel() > 1 and tensor.min() == tensor.max():  # a constant start (zero gate, unit scale) stays
            assert torch.equal(seeded[key], tensor), key
        elif tensor.numel() >= 256:
            assert 0.8 < float(seeded[key].detach().std() / tensor.detach().std()) < 1.25, key


def idle_parameters(module: torch.nn.Module, x: torch.Tensor, gate_detached: bool = False) -> set[str]:
    """Names of the parameters that get no gradient from a loss on ``module(x)`` (with its gate detached)."""
    handle = None
    if gate_detached:
        probe = blocks.attention_map_probe(module)
        handle = probe.register_forward_hook(lambda _module, _inputs, gate: gate.detach())
    x = x.clone().requires_grad_(True)
    torch.manual_seed(5)
    (module(x) * torch.randn_like(x)).sum().backward()
    if handle is not None:
        handle.remove()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    idle = set()
    for parameter_name, parameter in module.named_parameters():
        if parameter.grad is None or parameter.grad.abs().sum() == 0:
            idle.add(parameter_name)
        else:
            assert torch.isfinite(parameter.grad).all(), parameter_name
    return idle


@pytest.mark.parametrize("name", blocks.names())
def test_every_parameter_receives_a_gradient(name: str) -> None:
    """A mechanism control's exceptions are exactly the parameters its block uses only to compute the gate."""
    x = torch.randn(2, CHANNELS, 33, 17)
    controlled = blocks.controlled_block(name)
    expected = set() if controlled is None else idle_parameters(perturbed(controlled), x, gate_detached=True)
    assert idle_parameters(perturbed(name), x) == expected
    if controlled is not None:
        assert expected and expected <= {n for n, _ in perturbed(controlled).named_parameters()}


@pytest.mark.parametrize("name", blocks.names())
@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_outputs_are_finite_in_float32(name: str, scale: float) -> None:
    x = scale * torch.randn(2, CHANNELS, 48, 48)
    assert torch.isfinite(perturbed(name)(x)).all()


@pytest.mark.parametrize("name", blocks.names())
@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_outputs_are_finite_under_bfloat16_autocast(name: str, scale: float) -> None:
    x = scale * torch.randn(2, CHANNELS, 48, 48)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = perturbed(name)(x)
    assert torch.isfinite(y.float()).all()


@pytest.mark.parametrize("name", blocks.names())
def test_an_image_does_not_depend_on_its_batch(name: str) -> None:
    module = perturbed(name)
    torch.manual_seed(1)
    image, others = torch.randn(1, CHANNELS, 20, 24), torch.randn(3, CHANNELS, 20, 24)
    alone = module(image)
    in_batch = module(torch.cat([others[:1], image, others[1:]]))[1:2]
    torch.testing.assert_close(in_batch, alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", blocks.names())
def test_trace_reproduces_eager_output_on_a_new_size(name: str) -> None:
    module = perturbed(name).eval()
    traced = torch.jit.trace(module, torch.randn(2, CHANNELS, 33, 17), check_trace=False)
    x = torch.randn(3, CHANNELS, 48, 40)
    torch.testing.assert_close(traced(x), module(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(("name", "expected"), sorted(OFFICIAL_PARAMS.items()))
def test_parameter_counts_equal_the_official_structures(name: str, expected: int) -> None:
    assert parameter_count(blocks.create(name, CHANNELS)) == expected


@pytest.mark.parametrize(
    ("name", "no_norm", "batch_norm"), [("spatial", 99, 100), ("cbam", 301, 302), ("fla", 17_721, 17_761)]
)
def test_norm_option_restores_the_official_batch_norm(name: str, no_norm: int, batch_norm: int) -> None:
    assert parameter_count(blocks.create(name, CHANNELS)) == no_norm
    assert parameter_count(blocks.create(name, CHANNELS, norm="batch")) == batch_norm


def test_pam_equals_the_official_formula() -> None:
    module = perturbed("pam")
    x = torch.randn(2, CHANNELS, 9, 11)
    n, c, h, w = x.shape
    query = module.query_conv(x).view(n, -1, h * w).permute(0, 2, 1)
    key = module.key_conv(x).view(n, -1, h * w)
    attention = torch.softmax(torch.bmm(query, key), dim=-1)
    value = module.value_conv(x).view(n, -1, h * w)
    official = module.gamma * torch.bmm(value, attention.permute(0, 2, 1)).view(n, c, h, w) + x
    torch.testing.assert_close(module(x), official, atol=1e-5, rtol=1e-4)


def test_softpool_equals_the_official_formula_with_its_gradient_and_survives_large_inputs() -> None:
    softpool = blocks.lia.SoftPool2d(7, 3)
    exact = torch.randn(2, 16, 30, 25, dtype=torch.float64, requires_grad=True)
    official = F.avg_pool2d(torch.exp(exact) * exact, 7, 3) / F.avg_pool2d(torch.exp(exact), 7, 3)
    torch.testing.assert_close(softpool(exact), official)
    (gradient,) = torch.autograd.grad(softpool(exact).square().sum(), exact)
    (official_gradient,) = torch.autograd.grad(official.square().sum(), exact)
    torch.testing.assert_close(gradient, official_gradient)
    large = 1000.0 * exact.detach().float()
    assert not torch.isfinite(F.avg_pool2d(torch.exp(large) * large, 7, 3)).all()
    pooled = softpool(large)
    assert torch.isfinite(pooled).all()
    # A softmax-weighted mean lies between its window's minimum and maximum.
    assert (pooled <= F.max_pool2d(large, 7, 3) + 1e-3).all()
    assert (pooled >= -F.max_pool2d(-large, 7, 3) - 1e-3).all()


def test_unknown_block_lists_the_valid_names() -> None:
    with pytest.raises(blocks.UnknownBlockError) as raised:
        blocks.create("transformer", CHANNELS)
    for name in blocks.names():
        assert name in str(raised.value)


def test_unknown_option_lists_the_accepted_ones() -> None:
    with pytest.raises(blocks.BlockOptionError, match="reduction=16"):
        blocks.create("ca", CHANNELS, groups=4)


def test_shuffle_picks_groups_that_fit_and_rejects_ones_that_do_not() -> None:
    assert blocks.create("shuffle", CHANNELS).groups == 20
    assert blocks.create("shuffle", 64).groups == 32
    assert parameter_count(blocks.create("shuffle", CHANNELS, groups=4)) == 4 * 5 + 2 * 5
    with pytest.raises(blocks.BlockOptionError, match=r"valid groups: \[1, 2, 4, 5, 10, 20\]"):
        blocks.create("shuffle", CHANNELS, groups=3)


def test_fla_pairs_each_image_with_its_own_encoding() -> None:
    module = perturbed("fla")
    images = torch.randn(2, CHANNELS, 6, 5)
    batched = module(images)
    for index in range(2):
        torch.testing.assert_close(batched[index : index + 1], module(images[index : index + 1]))


# Blocks with one multiplicative gate declare it as their attention map (blocks.registry's contract).
DECLARED_MAPS = {"a2b", "pa", "ca", "spatial", "cbam", "ca_sp", "sp_ca", "esa", "lia"}
MAP_DECLARING = [
    name
    for name in blocks.names()
    if blocks.attention_map_probe(blocks.create(name, CHANNELS))
    and blocks.controlled_block(name) is None
    and blocks.spec(name).parent_control_of is None  # a control has no mechanism control of its own
]


def test_the_blocks_with_one_gate_declare_an_attention_map() -> None:
    assert set(MAP_DECLARING) >= DECLARED_MAPS
    assert not {"none", "pam", "cam", "fla", "shuffle", "psa_p", "psa_s"} & set(MAP_DECLARING)


@pytest.mark.parametrize("name", MAP_DECLARING)
def test_attention_map_is_a_gate_in_0_1_of_a_declared_shape_that_the_forward_uses(name: str) -> None:
    module = perturbed(name).eval()
    probe = blocks.attention_map_probe(module)
    x = torch.randn(2, CHANNELS, 33, 17)
    seen = []
    handle = probe.register_forward_hook(lambda _module, _inputs, gate: seen.append(gate.detach()))
    with torch.no_grad():
        output = module(x)
    handle.remove()
    assert len(seen) == 1
    gate = seen[0]
    assert tuple(gate.shape) in {(2, CHANNELS, 33, 17), (2, 1, 33, 17), (2, CHANNELS, 1, 1)}
    assert gate.min() >= 0 and gate.max() <= 1 and gate.std() > 0
    # Replacing the map through the probe changes the output; the hook removed, the output is back.
    handle = probe.register_forward_hook(lambda _module, _inputs, gate: 1 - gate)
    with torch.no_grad():
        replaced = module(x)
    handle.remove()
    assert (replaced - output).abs().max() > 1e-3
    with torch.no_grad():
        torch.testing.assert_close(module(x), output)


def test_every_block_with_a_gate_has_a_mechanism_control_of_its_options() -> None:
    assert {blocks.mechanism_control(name) for name in MAP_DECLARING} == {
        name for name in blocks.names() if blocks.controlled_block(name) is not None
    }
    assert blocks.spec("fixed_a2b").default_options() == blocks.spec("a2b").default_options()
    with pytest.raises(KeyError, match="no mechanism control"):
        blocks.mechanism_control("pam")
    with pytest.raises(KeyError, match="no mechanism control"):
        blocks.mechanism_control("fresh_a2b")
    assert blocks.parent_control("a2b", "capacity") == "plain_a2b"
    assert blocks.parent_control("a2b", "freshness") == "fresh_a2b"
    assert blocks.parent_control("pa", "freshness") is None


@pytest.mark.parametrize("name", MAP_DECLARING)
def test_a_mechanism_controls_gate_is_a_learned_constant_across_inputs(name: str) -> None:
    """The gate is the same for every input and image (sigmoid of its logit); the block's other paths still act."""
    control = perturbed(blocks.mechanism_control(name)).eval()
    probe = blocks.attention_map_probe(control)
    seen = []
    handle = probe.register_forward_hook(lambda _module, _inputs, gate: seen.append(gate.detach()))
    torch.manual_seed(2)
    first, second = torch.randn(2, CHANNELS, 33, 17), 3 * torch.randn(2, CHANNELS, 33, 17) + 1
    with torch.no_grad():
        outputs = [control(first), control(second)]
    handle.remove()
    expected = torch.sigmoid(probe.logit).expand_as(seen[0])
    assert seen[0].shape == seen[1].shape and seen[0].shape[0] == 2
    torch.testing.assert_close(seen[0], expected)
    torch.testing.assert_close(seen[1], expected)
    assert probe.logit.abs().max() > 0  # perturbed: not the 0.5 it starts at
    # Not the identity and not the block: its own gate would differ from the constant.
    original = perturbed(name).eval()
    with torch.no_grad():
        assert (outputs[0] - first).abs().max() > 1e-3
        assert (original(first) - outputs[0]).abs().max() > 1e-3
