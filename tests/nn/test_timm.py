"""The optional timm backend, with a stand-in ``timm`` module and the real one."""

import pickle
import sys
import types

import pytest
import torch
from torch import nn

from sklearn_leukemia.nn import _registry, get_architecture, list_architectures
from sklearn_leukemia.nn._timm import TimmBuilder


@pytest.fixture(autouse=True)
def fresh_plugins():
    _registry._reset_plugin_cache()
    yield
    _registry._reset_plugin_cache()


@pytest.fixture
def fake_timm(monkeypatch):
    """A ``timm`` module with the two functions the backend uses; records calls."""
    calls = []

    def create_model(model_name, pretrained=False, **kwargs):
        calls.append({"model_name": model_name, "pretrained": pretrained, **kwargs})
        return nn.Sequential(
            nn.Conv2d(kwargs["in_chans"], 4, 3),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4, kwargs["num_classes"]),
        )

    def list_models(filter=""):
        return ["efficientnet_b0", "resnet18", "resnet50"]

    module = types.ModuleType("timm")
    module.create_model = create_model
    module.list_models = list_models
    module.calls = calls
    monkeypatch.setitem(sys.modules, "timm", module)
    return module


def test_timm_name_returns_a_builder(fake_timm):
    build = get_architecture("timm:resnet18")
    assert build == TimmBuilder("resnet18")
    model = build(n_classes=3, in_channels=1)
    assert fake_timm.calls == [
        {"model_name": "resnet18", "pretrained": False, "num_classes": 3, "in_chans": 1}
    ]
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 3)


def test_pretrained_and_extra_arguments_are_passed_through(fake_timm):
    build = get_architecture("timm:resnet18.a1_in1k")  # pretrained tags are allowed
    build(n_classes=2, pretrained=True, drop_rate=0.3)
    (call,) = fake_timm.calls
    assert call == {
        "model_name": "resnet18.a1_in1k",
        "pretrained": True,
        "num_classes": 2,
        "in_chans": 3,
        "drop_rate": 0.3,
    }


def test_builder_arguments_are_checked(fake_timm):
    build = get_architecture("timm:resnet18")
    with pytest.raises(ValueError, match="n_classes"):
        build(n_classes=1)
    with pytest.raises(ValueError, match="in_channels"):
        build(n_classes=2, in_channels=0)
    with pytest.raises(TypeError, match="pretrained"):
        build(n_classes=2, pretrained="yes")
    assert fake_timm.calls == []


def test_unknown_timm_model(fake_timm):
    with pytest.raises(
        ValueError, match="timm has no model called 'resnet19'.*resnet18"
    ):
        get_architecture("timm:resnet19")
    with pytest.raises(ValueError, match="timm has no model called ''"):
        get_architecture("timm:")


def test_source_prefixed_names_are_left_to_timm(fake_timm):
    build = get_architecture("timm:hf-hub:someone/some_model")
    build(n_classes=2)
    assert fake_timm.calls[0]["model_name"] == "hf-hub:someone/some_model"


def test_unknown_name_mentions_timm_when_installed(fake_timm):
    with pytest.raises(ValueError, match="'timm:<model name>'"):
        get_architecture("resnet18")


def test_timm_models_are_not_listed(fake_timm):
    assert not [n for n in list_architectures() if "resnet18" in n]


def test_builder_pickles(fake_timm):
    build = get_architecture("timm:resnet18")
    clone = pickle.loads(pickle.dumps(build))
    assert clone == build and hash(clone) == hash(build)
    assert repr(clone) == "TimmBuilder('resnet18')"


def test_missing_timm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ImportError, match="pip install timm"):
        get_architecture("timm:resnet18")


def test_real_timm():
    pytest.importorskip("timm")
    build = get_architecture("timm:resnet18")
    model = build(n_classes=2, in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 2)
