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
    [({"convs_per_stage": 0}, "convs_per_stage"), ({"dense_units": 0}, "dense_units")],
)
def test_bad_secnn_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SECNN(n_classes=2, **kwargs)
