import pytest
import torch
from torch import nn

from sklearn_leukemia.nn import SECNN, SEBlock


def conv3x3s(module):
    # the SE blocks' 1x1 convolutions are not part of the stage's conv stack
    return [
        m
        for m in module.modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
    ]


def test_stage_widths_double_from_width():
    model = SECNN(n_classes=2, width=6, depth=3, convs_per_stage=2)
    for i, stage in enumerate(model.stages):
        convs = conv3x3s(stage)
        assert len(convs) == 2
        assert {c.out_channels for c in convs} == {6 * 2**i}
    assert model.num_features == 24
    assert model.head[3].in_features == 24


@pytest.mark.parametrize("convs_per_stage", [1, 3])
def test_convs_per_stage(convs_per_stage):
    model = SECNN(n_classes=2, width=4, depth=2, convs_per_stage=convs_per_stage)
    convs = conv3x3s(model.stages)
    assert len(convs) == 2 * convs_per_stage


def test_stage_order_is_convs_then_se_then_pool():
    model = SECNN(n_classes=2, width=4, depth=2)
    for stage in model.stages:
        kinds = [type(m) for m in stage]
        assert kinds[-2:] == [SEBlock, nn.MaxPool2d]
        assert kinds[:3] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    no_se = SECNN(n_classes=2, width=4, depth=2, use_se=False)
    assert [type(m) for m in no_se.stages[0]][-2:] == [nn.Identity, nn.MaxPool2d]


def test_resolution_halves_in_stem_and_every_stage():
    model = SECNN(n_classes=2, width=4, depth=3).eval()
    sizes = []
    for stage in model.stages:
        stage.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
    with torch.no_grad():
        model(torch.zeros(1, 3, 128, 128))
    assert sizes == [16, 8, 4]  # 128 -> 64 (stride-2 conv) -> 32 (pool) -> ...


@pytest.mark.parametrize("stride, after_stage", [(1, 32), (2, 16), (4, 8), (8, 4)])
def test_stem_stride_sets_the_resolution_of_the_first_stage(stride, after_stage):
    model = SECNN(n_classes=2, width=4, depth=2, stem_stride=stride).eval()
    sizes = []
    model.stages[0].register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 128, 128)).shape == (2, 2)
    # the stem divides 128 by stride * 2 (its pooling), the stage halves it
    assert sizes == [after_stage]


def test_stem_stride_above_two_uses_non_overlapping_patches():
    model = SECNN(n_classes=2, width=4, depth=2, stem_stride=4)
    conv = model.stem[0]
    assert conv.kernel_size == (4, 4) and conv.stride == (4, 4)
    assert conv.padding == (0, 0)
    # each output of the stem convolution depends on its own 4x4 patch only
    x = torch.zeros(1, 3, 16, 16, requires_grad=True)
    conv(x)[0, :, 1, 2].sum().backward()
    touched = x.grad[0].abs().sum(dim=0) != 0
    assert touched[4:8, 8:12].all() and touched.sum() == 16
    # a side that is not a multiple of the stride loses its last rows
    assert conv(torch.zeros(1, 3, 18, 19)).shape[-2:] == (4, 4)
    default = SECNN(n_classes=2, width=4, depth=2).stem[0]
    assert default.kernel_size == (3, 3) and default.stride == (2, 2)


def test_stem_stride_does_not_change_the_parameters_after_the_stem():
    a = SECNN(n_classes=2, width=4, depth=2)
    b = SECNN(n_classes=2, width=4, depth=2, stem_stride=4)
    shapes = lambda m: [p.shape for p in m.stages.parameters()]  # noqa: E731
    assert shapes(a) == shapes(b)


def test_dense_head():
    model = SECNN(n_classes=3, width=4, depth=2, dense_units=10, dropout=0.25)
    kinds = [type(m) for m in model.head]
    assert kinds == [
        nn.AdaptiveAvgPool2d,
        nn.Flatten,
        nn.Dropout,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
    ]
    assert model.head[3].out_features == 10
    assert model.head[5].out_features == 3


def test_dropout_is_active_only_in_training():
    torch.manual_seed(0)
    model = SECNN(n_classes=2, width=4, depth=2, dropout=0.9)
    x = torch.randn(4, 3, 16, 16)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
    model.train()
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"convs_per_stage": 0}, "convs_per_stage"),
        ({"dense_units": 0}, "dense_units"),
        ({"stem_stride": 0}, "stem_stride"),
    ],
)
def test_bad_secnn_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SECNN(n_classes=2, **kwargs)


def test_stem_stride_must_be_an_integer():
    with pytest.raises(TypeError, match="stem_stride"):
        SECNN(n_classes=2, stem_stride=2.0)
