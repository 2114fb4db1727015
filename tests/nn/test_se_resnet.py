import pytest
import torch
from torch import nn

from sklearn_leukemia.nn import SEBasicBlock, SEBlock, SEResNet


def test_stages_blocks_and_widths():
    model = SEResNet(n_classes=2, width=4, depth=3, blocks_per_stage=2)
    assert len(model.stages) == 3
    for i, stage in enumerate(model.stages):
        assert len(stage) == 2
        assert all(isinstance(b, SEBasicBlock) for b in stage)
        assert {b.conv2.out_channels for b in stage} == {4 * 2**i}
    assert model.num_features == 16
    assert model.head[-1].in_features == 16


def test_projection_shortcut_only_when_shape_changes():
    model = SEResNet(n_classes=2, width=4, depth=3, blocks_per_stage=2)
    first, second = model.stages[0]
    assert isinstance(first.shortcut, nn.Identity)
    assert isinstance(second.shortcut, nn.Identity)
    for stage in model.stages[1:]:
        down, same = stage
        conv, bn = down.shortcut
        assert conv.kernel_size == (1, 1) and conv.stride == (2, 2)
        assert isinstance(bn, nn.BatchNorm2d)
        assert down.conv1.stride == (2, 2)
        assert isinstance(same.shortcut, nn.Identity)


def test_resolution():
    model = SEResNet(n_classes=2, width=4, depth=3, blocks_per_stage=1).eval()
    sizes = []
    for stage in model.stages:
        stage.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
    with torch.no_grad():
        model(torch.zeros(1, 3, 128, 128))
    assert sizes == [32, 16, 8]  # 128 -> 64 (stride-2 conv) -> 32 (max pool)


def test_se_is_applied_before_the_residual_addition():
    torch.manual_seed(0)
    block = SEBasicBlock(8, 8, se_reduction=2).eval()
    nn.init.normal_(block.bn2.weight)
    calls = []
    block.se.register_forward_hook(lambda m, i, o: calls.append((i[0], o)))
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        y = block(x)
        ((branch, scaled),) = calls
        expected_branch = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x)))))
    torch.testing.assert_close(branch, expected_branch)
    torch.testing.assert_close(y, torch.relu(scaled + x))


@pytest.mark.parametrize("use_se", [True, False])
def test_zero_init_residual_makes_blocks_start_as_identity(use_se):
    model = SEResNet(n_classes=2, width=4, depth=2, use_se=use_se).eval()
    for block in model.modules():
        if isinstance(block, SEBasicBlock):
            assert (block.bn2.weight == 0).all()
    identity_block = model.stages[0][0]
    x = torch.rand(2, 4, 8, 8)  # non-negative, as after a ReLU
    with torch.no_grad():
        torch.testing.assert_close(identity_block(x), x)


def test_zero_init_residual_can_be_disabled():
    model = SEResNet(n_classes=2, width=4, depth=2, zero_init_residual=False)
    bn2 = [b.bn2.weight for b in model.modules() if isinstance(b, SEBasicBlock)]
    assert all((w == 1).all() for w in bn2)


def test_zero_init_residual_still_learns():
    torch.manual_seed(0)
    model = SEResNet(n_classes=2, width=4, depth=2, blocks_per_stage=1, dropout=0.0)
    x, y = torch.randn(8, 3, 16, 16), torch.tensor([0, 1] * 4)
    nn.CrossEntropyLoss()(model(x), y).backward()
    for block in model.modules():
        if isinstance(block, SEBasicBlock):
            assert block.bn2.weight.grad.abs().sum() > 0


def test_one_se_block_per_residual_block():
    model = SEResNet(n_classes=2, width=4, depth=3, blocks_per_stage=2)
    assert sum(isinstance(m, SEBlock) for m in model.modules()) == 6


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"blocks_per_stage": 0}, "blocks_per_stage"),
        ({"zero_init_residual": 1}, "zero_init_residual"),
    ],
)
def test_bad_se_resnet_arguments(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        SEResNet(n_classes=2, **kwargs)
