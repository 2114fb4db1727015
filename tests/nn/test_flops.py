import pytest
import torch
from torch import nn

from sklearn_leukemia.nn import SECNN, SEResNet, count_flops


def test_linear_flops():
    # one multiply-add per weight and sample, counted as 2 FLOPs
    assert count_flops(nn.Linear(10, 4), (8, 10)) == 2 * 8 * 10 * 4


def test_conv_flops():
    conv = nn.Conv2d(3, 5, kernel_size=3, stride=2, padding=1, bias=False)
    h_out = w_out = 8  # 16 / stride 2
    expected = 2 * 2 * 5 * h_out * w_out * 3 * 3 * 3
    assert count_flops(conv, (2, 3, 16, 16)) == expected


@pytest.mark.parametrize("model_class", [SECNN, SEResNet])
def test_architecture_flops_scale_with_batch_and_width(model_class):
    model = model_class(n_classes=2, width=4, depth=2)
    one = count_flops(model, (1, 3, 32, 32))
    assert one > 0
    assert count_flops(model, (3, 3, 32, 32)) == 3 * one
    wider = model_class(n_classes=2, width=8, depth=2)
    assert count_flops(wider, (1, 3, 32, 32)) > 2 * one


def test_stem_flops_are_included():
    model = SECNN(n_classes=2, width=4, depth=1, dense_units=4)
    stem = model.stem[0]
    stem_flops = count_flops(stem, (1, 3, 32, 32))
    assert stem_flops == 2 * 4 * 16 * 16 * 3 * 3 * 3
    assert count_flops(model, (1, 3, 32, 32)) > stem_flops


def test_module_state_is_left_alone():
    model = SEResNet(n_classes=2, width=4, depth=1).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_flops(model, (2, 3, 16, 16))
    assert model.training
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])
    model.eval()
    count_flops(model, (2, 3, 16, 16))
    assert not model.training


def test_input_follows_parameter_dtype():
    model = nn.Linear(4, 2).double()
    assert count_flops(model, (1, 4)) == 2 * 4 * 2


def test_module_without_parameters():
    assert count_flops(nn.ReLU(), (1, 3, 8, 8)) == 0


@pytest.mark.parametrize(
    "shape", [(), (1, 0, 8), (1, 3.0, 8), [1, True], "1x3x8x8", None, (1, -3)]
)
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match="input_shape"):
        count_flops(nn.Linear(4, 2), shape)


def test_not_a_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        count_flops(lambda x: x, (1, 4))
