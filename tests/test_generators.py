import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sklearn_leukemia._generators import FitGenerators


def _build():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                        nn.Dropout(0.5), nn.Linear(4 * 6 * 6, 2))
    nn.init.kaiming_normal_(net[0].weight)  # Python init, as nn/_se.py does
    extra = (torch.randn(3), torch.randperm(5), torch.rand(2), torch.randint(9, (4,)),
             torch.randint(3, 10, (4,)))
    return net, extra


def test_building_draws_what_a_seeded_global_generator_drew_without_touching_it():
    torch.manual_seed(11)
    expected_net, expected_extra = _build()
    torch.manual_seed(0)
    state = torch.get_rng_state()
    with FitGenerators(11).building():
        net, extra = _build()
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(net.parameters(), expected_net.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(extra, expected_extra):
        assert torch.equal(a, b)


@pytest.mark.parametrize("func, shape, kwargs", [
    (F.dropout, (4, 6), {"p": 0.3}),
    (F.dropout, (4, 6), {"p": 1.0}),
    (F.dropout1d, (4, 3, 5), {}),
    (F.dropout1d, (3, 5), {}),
    (F.dropout2d, (4, 3, 5, 5), {"p": 0.2}),
    (F.dropout2d, (4, 3, 5), {}),  # torch's 1-D channel dropout of 3-D input
    (F.dropout2d, (2, 3, 2, 4, 4), {}),
    (F.dropout3d, (2, 3, 2, 4, 4), {}),
    (F.dropout3d, (3, 2, 4, 4), {}),  # unbatched
    (F.alpha_dropout, (4, 6), {"p": 0.4, "training": True}),
    (F.feature_alpha_dropout, (4, 3, 5, 5), {"training": True}),
    (F.feature_alpha_dropout, (2, 3, 2, 4, 4), {"training": True}),
])
@pytest.mark.filterwarnings("ignore:dropout2d")
def test_dropout_functionals_are_torchs_own_on_the_cpu(func, shape, kwargs):
    x = torch.randn(shape)
    torch.manual_seed(3)
    expected = func(x.clone(), **kwargs)
    state = torch.get_rng_state()
    with FitGenerators(3).training():
        got = func(x.clone(), **kwargs)
        inplace = func(x.clone(), **kwargs, inplace=True)
    assert torch.equal(got, expected)
    assert torch.equal(torch.get_rng_state(), state)  # nothing drawn from it
    assert inplace.shape == expected.shape


def test_dropout_off_outside_training_and_bad_p_refused():
    x = torch.randn(4, 6)
    with FitGenerators(0).training():
        assert F.dropout(x, 0.5, training=False) is x
        assert torch.equal(F.alpha_dropout(x, 0.5), x)  # training=False default
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, 1.5)


def test_dropout1d_refuses_what_torch_refuses():
    with FitGenerators(0).training(), pytest.raises(RuntimeError, match="2D or 3D"):
        F.dropout1d(torch.randn(2, 3, 4, 5))


def test_rrelu_outside_training_is_torchs_leaky_relu():
    x = torch.randn(30)
    expected = F.rrelu(x)
    with FitGenerators(0).training():
        assert torch.equal(F.rrelu(x), expected)
        assert torch.equal(F.rrelu_(x.clone()), expected)


def test_rrelu_draws_its_slopes_from_the_fit():
    x = torch.randn(50)
    with FitGenerators(2).training():
        a = F.rrelu(x, training=True)
    with FitGenerators(2).training():
        b = F.rrelu(x, training=True)
    assert torch.equal(a, b)
    assert torch.equal(a[x >= 0], x[x >= 0])
    slopes = a[x < 0] / x[x < 0]
    assert ((slopes >= 1 / 8 - 1e-6) & (slopes <= 1 / 3 + 1e-6)).all()


def test_the_modes_belong_to_their_thread():
    torch.manual_seed(4)
    expected = torch.rand(3)
    torch.manual_seed(4)
    seen = []

    def other():
        seen.append(torch.rand(3))

    with FitGenerators(9).training():
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    # The other thread drew from the global generator, untouched by the mode.
    assert torch.equal(seen[0], expected)


def test_an_explicit_generator_is_kept():
    mine = torch.Generator().manual_seed(1)
    expected = torch.rand(3, generator=torch.Generator().manual_seed(1))
    with FitGenerators(0).training():
        assert torch.equal(torch.rand(3, generator=mine), expected)
