"""Behaviour shared by every built-in architecture."""

import copy
import io

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_leukemia.nn import SEBlock, get_architecture

ARCHITECTURES = ["secnn", "se_resnet"]
# Tiny configurations keep each test to milliseconds on one CPU thread.
TINY = {
    "secnn": {"width": 4, "depth": 3, "dense_units": 8},
    "se_resnet": {"width": 4, "depth": 3, "blocks_per_stage": 1},
}


def build(name, n_classes=2, **kwargs):
    return get_architecture(name)(n_classes=n_classes, **{**TINY[name], **kwargs})


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("size", [16, 33, 64])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_output_shape(name, size, n_classes):
    model = build(name, n_classes=n_classes).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, n_classes)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_default_configuration_accepts_small_and_non_square_inputs(name):
    model = get_architecture(name)(n_classes=2).eval()
    with torch.no_grad():
        for shape in [(16, 16), (20, 37)]:
            assert model(torch.randn(1, 3, *shape)).shape == (1, 2)


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("in_channels", [1, 4])
def test_in_channels(name, in_channels):
    model = build(name, in_channels=in_channels).eval()
    with torch.no_grad():
        assert model(torch.randn(2, in_channels, 16, 16)).shape == (2, 2)
    with pytest.raises(RuntimeError):
        model(torch.randn(2, in_channels + 1, 16, 16))


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_returns_logits_not_probabilities(name):
    model = build(name)
    kinds = (nn.Softmax, nn.LogSoftmax, nn.Sigmoid)
    # the only sigmoids allowed are the SE gates
    gates = {id(m.gate) for m in model.modules() if isinstance(m, SEBlock)}
    assert not [
        m for m in model.modules() if isinstance(m, kinds) and id(m) not in gates
    ]
    last = list(model.modules())[-1]
    assert isinstance(last, nn.Linear)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_use_se_false_removes_se_blocks(name):
    with_se = build(name)
    without_se = build(name, use_se=False)
    n_se = sum(isinstance(m, SEBlock) for m in with_se.modules())
    assert n_se == 3  # one per stage (one block per stage in the tiny configs)
    assert not any(isinstance(m, SEBlock) for m in without_se.modules())
    se_params = sum(n_params(m) for m in with_se.modules() if isinstance(m, SEBlock))
    assert n_params(with_se) - n_params(without_se) == se_params
    with torch.no_grad():
        assert without_se.eval()(torch.randn(2, 3, 16, 16)).shape == (2, 2)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_se_reduction_is_passed_to_the_blocks(name):
    model = build(name, width=32, depth=1, se_reduction=2)
    (block,) = [m for m in model.modules() if isinstance(m, SEBlock)]
    assert block.reduction == 2
    assert block.hidden_channels == 16


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_dropout_probability(name):
    model = build(name, dropout=0.3)
    (dropout,) = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert dropout.p == 0.3


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_default_parameter_count_suits_small_datasets(name):
    # secnn's default width (16) was set by the real-data ablation: about
    # 0.3 M parameters; se_resnet has about 2.8 M.
    model = get_architecture(name)(n_classes=2)
    assert 200_000 <= n_params(model) <= 3_000_000


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_width_scales_parameters(name):
    assert n_params(build(name, width=8)) > 3 * n_params(build(name, width=4))


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_channels_last_gives_same_output(name):
    torch.manual_seed(0)
    model = build(name, width=8)
    x = torch.randn(4, 3, 33, 33)
    model.train()
    with torch.no_grad():
        model(x)  # non-trivial batch-norm running statistics
    model.eval()
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        got = model(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_same_seed_same_model(name):
    x = torch.randn(2, 3, 16, 16)
    outputs, states = [], []
    for seed in [0, 0, 1]:
        torch.manual_seed(seed)
        model = build(name).eval()
        states.append(model.state_dict())
        with torch.no_grad():
            outputs.append(model(x))
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key])
    torch.testing.assert_close(outputs[0], outputs[1])
    assert not torch.allclose(outputs[0], outputs[2])


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_gradient_step_reduces_loss(name):
    torch.manual_seed(0)
    model = build(name, dropout=0.0).train()
    x = torch.randn(8, 3, 16, 16)
    y = torch.tensor([0, 1] * 4)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    stem_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert stem_conv.weight.grad.abs().sum() > 0  # reaches the first layer
    optimizer.step()
    with torch.no_grad():
        assert loss_fn(model(x), y) < loss.detach()


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_kaiming_initialisation(name):
    torch.manual_seed(0)
    model = build(name, width=32, depth=2)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    big = max(convs, key=lambda m: m.weight.numel())
    fan_out = big.out_channels * big.kernel_size[0] * big.kernel_size[1]
    expected_std = np.sqrt(2.0 / fan_out)
    assert big.weight.std().item() == pytest.approx(expected_std, rel=0.1)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_state_dict_round_trip(name):
    torch.manual_seed(0)
    model = build(name).eval()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(1)
    other = build(name).eval()
    other.load_state_dict(torch.load(buffer))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(other(x), model(x))
        torch.testing.assert_close(copy.deepcopy(model)(x), model(x))


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_skorch_routes_module_parameters(name):
    skorch = pytest.importorskip("skorch")
    net = skorch.NeuralNetClassifier(
        get_architecture(name),
        module__n_classes=2,
        **{f"module__{k}": v for k, v in TINY[name].items()},
        criterion=nn.CrossEntropyLoss,  # the module returns logits
        max_epochs=1,
        batch_size=4,
        train_split=None,
    )
    X = np.random.default_rng(0).normal(size=(8, 3, 16, 16)).astype("float32")
    net.fit(X, np.array([0, 1] * 4))
    proba = net.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert any(isinstance(m, SEBlock) for m in net.module_.modules())
    net.set_params(module__use_se=False, module__width=2)
    net.initialize()
    assert not any(isinstance(m, SEBlock) for m in net.module_.modules())
    assert net.module_.stem[0].out_channels == 2


BAD_ARGUMENTS = [
    ({"n_classes": 1}, ValueError, "n_classes"),
    ({"n_classes": 2.0}, TypeError, "n_classes"),
    ({"in_channels": 0}, ValueError, "in_channels"),
    ({"width": 0}, ValueError, "width"),
    ({"width": 4.5}, TypeError, "width"),
    ({"depth": 0}, ValueError, "depth"),
    ({"depth": None}, TypeError, "depth"),
    ({"se_reduction": 0}, ValueError, "se_reduction"),
    ({"dropout": 1.0}, ValueError, "dropout"),
    ({"dropout": -0.1}, ValueError, "dropout"),
    ({"dropout": "0.5"}, TypeError, "dropout"),
    ({"use_se": 1}, TypeError, "use_se"),
    ({"use_se": "no"}, TypeError, "use_se"),
]


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("kwargs, error, argument", BAD_ARGUMENTS)
def test_bad_arguments(name, kwargs, error, argument):
    with pytest.raises(error, match=argument):
        build(name, **kwargs)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_n_classes_is_required(name):
    with pytest.raises(TypeError, match="n_classes"):
        get_architecture(name)()


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_numpy_scalars_accepted(name):
    # GridSearchCV grids are often numpy arrays
    model = build(name, width=np.int64(4), dropout=np.float64(0.1), use_se=np.True_)
    assert any(isinstance(m, SEBlock) for m in model.modules())
