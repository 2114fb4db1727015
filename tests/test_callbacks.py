import pickle

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback

from sklearn_leukemia.callbacks import (
    LRSchedule,
    ProgressiveResizing,
    WarmupCosine,
    WeightAveraging,
    progressive_scale,
)


def test_warmup_cosine():
    factor = WarmupCosine(total_steps=20, warmup_steps=4)
    values = [factor(step) for step in range(20)]
    assert values[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert values[4] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[4:], values[5:]))
    assert factor(20) == pytest.approx(0.0)
    assert pickle.loads(pickle.dumps(factor))(4) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "n_epochs, start, expected",
    [
        (4, 0.5, [0.5, 0.6875, 0.8125, 1.0]),  # 2/3 and 5/6 in sixteenths
        (4, 0.3, [0.3125, 0.5625, 0.75, 1.0]),  # never below 0.3
        (8, 0.25, [0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 1.0]),
        (1, 0.5, [1.0]),
        (3, 1.0, [1.0, 1.0, 1.0]),
    ],
)
def test_progressive_scale_grows_by_sixteenths_to_full_at_three_quarters(
    n_epochs, start, expected
):
    scales = [progressive_scale(e, n_epochs, start) for e in range(n_epochs)]
    np.testing.assert_allclose(scales, expected)


# ---------------------------------------------------------------------------
# On a plain skorch net: the callbacks need nothing of SECNNClassifier
# ---------------------------------------------------------------------------


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
        self.norm = torch.nn.BatchNorm1d(2)

    def forward(self, x):
        return self.norm(self.linear(x))


def _net(*callbacks, max_epochs=3):
    torch.manual_seed(0)
    return NeuralNetClassifier(
        _Tiny, max_epochs=max_epochs, batch_size=8, lr=0.1, train_split=None,
        callbacks=list(callbacks), verbose=0,
    )


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def test_lr_schedule_spans_the_nets_epochs():
    X, y = _data()
    net = _net(("lr_scheduler", LRSchedule("cosine"))).fit(X, y)
    lrs = [lr for epoch in net.history[:, "batches", :, "event_lr"] for lr in epoch]
    factor = WarmupCosine(total_steps=9, warmup_steps=min(3, 9 // 10))
    np.testing.assert_allclose(lrs, [0.1 * factor(step) for step in range(9)])
    assert dict(net.callbacks_)["lr_scheduler"].lr_scheduler_ is None  # released
    with pytest.raises(ValueError, match="lr schedule 'linear' is not supported"):
        _net(LRSchedule("linear")).fit(X, y)


def test_weight_averaging_ends_with_the_average_and_keeps_counters():
    X, y = _data()
    states = []

    class Record(Callback):
        def on_train_begin(self, net, **kwargs):
            states.append(_copy(net))

        def on_batch_end(self, net, training=False, **kwargs):
            if training:
                states.append(_copy(net))

    averaging = WeightAveraging(decay=0.9)
    net = _net(("ema", averaging), ("record", Record())).fit(X, y)
    average = dict(states[0])
    for t, state in enumerate(states[1:]):
        decay = averaging.decay_at(t)
        average = {
            k: decay * average[k] + (1 - decay) * v if v.is_floating_point() else v
            for k, v in state.items()
        }
    for name, value in net.module_.state_dict().items():
        torch.testing.assert_close(value, average[name], rtol=1e-5, atol=1e-6)
    assert net.module_.norm.num_batches_tracked.item() == 9
    assert averaging.average_ is None  # dropped, never pickled


def _copy(net):
    return {k: v.detach().clone() for k, v in net.module_.state_dict().items()}


def test_progressive_resizing_records_the_scale_of_each_epoch():
    X, y = _data()
    resizing = ProgressiveResizing(0.5)
    net = _net(("progressive_resizing", resizing), max_epochs=4).fit(X, y)
    np.testing.assert_allclose(net.history[:, "train_scale"], [0.5, 0.6875, 0.8125, 1])
    assert resizing.scale_ == 1.0
    # Each call grows the scale again over its own epochs.
    net.partial_fit(X, y)
    np.testing.assert_allclose(
        net.history[:, "train_scale"], [0.5, 0.6875, 0.8125, 1] * 2
    )
