import importlib
import pickle
import sys
import textwrap
import warnings

import pytest
import torch
from torch import nn

from sklearn_leukemia.nn import (
    SECNN,
    SEResNet,
    _registry,
    get_architecture,
    list_architectures,
    register_architecture,
)

GROUP = "sklearn_leukemia.architectures"


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch):
    """Each test sees the built-ins only, and a fresh plugin discovery."""
    # not a copy of the live registry: doctests may have registered examples
    builtins = {"secnn": SECNN, "se_resnet": SEResNet}
    monkeypatch.setattr(_registry, "_REGISTRY", builtins)
    _registry._reset_plugin_cache()
    yield
    _registry._reset_plugin_cache()


@pytest.fixture
def no_timm(monkeypatch):
    # a None entry makes ``import timm`` raise ImportError
    monkeypatch.setitem(sys.modules, "timm", None)


@pytest.fixture
def install_plugin(tmp_path, monkeypatch):
    """Write a distribution with entry points into tmp_path and put it on sys.path.

    Returns ``install(dist_name, entry_points, modules)``, where entry_points
    maps architecture names to ``module:attr`` and modules maps module names
    to their source.
    """
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(dist_name, entry_points, modules=None):
        for module, source in (modules or {}).items():
            package = tmp_path / module
            package.mkdir()
            (package / "__init__.py").write_text(textwrap.dedent(source))
        dist_info = tmp_path / f"{dist_name}-0.1.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.1\n"
        )
        lines = [f"[{GROUP}]"] + [f"{k} = {v}" for k, v in entry_points.items()]
        (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        importlib.invalidate_caches()
        _registry._reset_plugin_cache()

    yield install
    # forget the imported plugin modules: the next test reuses their names
    for module in list(sys.modules):
        if module.startswith("tiny_plugin") or module.startswith("bad_plugin"):
            del sys.modules[module]


TINY_PLUGIN = """
    from torch import nn

    def build(n_classes, in_channels=3, hidden=4):
        return nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(hidden, n_classes),
        )

    NOT_CALLABLE = 42
"""


# --- built-ins and list_architectures ---------------------------------------


def test_builtins_are_registered():
    assert get_architecture("secnn") is SECNN
    assert get_architecture("se_resnet") is SEResNet
    names = list_architectures()
    assert {"secnn", "se_resnet"} <= set(names)
    assert names == sorted(names)


def test_builder_signature():
    model = get_architecture("secnn")(n_classes=3, in_channels=1, width=4, depth=1)
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 1, 16, 16)).shape == (2, 3)


# --- register_architecture ----------------------------------------------------


def test_register_as_decorator():
    @register_architecture("probe")
    def probe(n_classes, in_channels=3):
        return nn.Linear(in_channels, n_classes)

    assert get_architecture("probe") is probe  # the decorator returns it unchanged
    assert "probe" in list_architectures()
    assert get_architecture("probe")(n_classes=2).out_features == 2


def test_register_by_call():
    def probe(n_classes, in_channels=3):
        return nn.Linear(in_channels, n_classes)

    assert register_architecture("probe", probe) is probe
    assert get_architecture("probe") is probe


def test_registering_a_taken_name_raises():
    def probe(n_classes, in_channels=3):
        return nn.Linear(in_channels, n_classes)

    with pytest.raises(ValueError, match="'secnn'.*overwrite=True"):
        register_architecture("secnn", probe)
    assert get_architecture("secnn") is SECNN
    register_architecture("probe", probe)
    with pytest.raises(ValueError, match="already registered"):
        register_architecture("probe")(probe)


def test_overwrite_replaces():
    def probe(n_classes, in_channels=3):
        return nn.Linear(in_channels, n_classes)

    register_architecture("secnn", probe, overwrite=True)
    assert get_architecture("secnn") is probe


def test_registered_names_do_not_leak_between_tests():
    assert "probe" not in list_architectures()


@pytest.mark.parametrize(
    "name, func, error, match",
    [
        (3, None, TypeError, "must be a str"),
        ("", None, ValueError, "non-empty"),
        (" secnn", None, ValueError, "spaces"),
        ("timm:mine", None, ValueError, "reserved"),
        ("mine", 42, TypeError, "callable"),
    ],
)
def test_register_bad_arguments(name, func, error, match):
    with pytest.raises(error, match=match):
        register_architecture(name, func)
    assert "mine" not in list_architectures()


# --- get_architecture errors --------------------------------------------------


def test_unknown_name_lists_known_ones(no_timm):
    with pytest.raises(ValueError, match="unknown architecture 'resnet'") as info:
        get_architecture("resnet")
    message = str(info.value)
    assert "['se_resnet', 'secnn']" in message
    assert "timm" not in message  # no hint for a backend that is not installed


def test_unknown_name_suggests_close_match(no_timm):
    with pytest.raises(ValueError, match="Did you mean 'se_resnet'"):
        get_architecture("se-resnet")


def test_name_must_be_a_string():
    with pytest.raises(TypeError, match="must be a str"):
        get_architecture(SECNN)


# --- plugins ------------------------------------------------------------------


def test_plugin_is_discovered_and_builds(install_plugin):
    install_plugin(
        "tiny_plugin", {"tiny": "tiny_plugin:build"}, {"tiny_plugin": TINY_PLUGIN}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build = get_architecture("tiny")
    assert build is sys.modules["tiny_plugin"].build
    model = build(n_classes=3, in_channels=1)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 3)
    assert list_architectures() == ["se_resnet", "secnn", "tiny"]


def test_broken_plugins_warn_and_are_skipped(install_plugin):
    install_plugin(
        "tiny_plugin",
        {
            "tiny": "tiny_plugin:build",
            "missing": "no_such_module_xyz:build",
            "no_attr": "tiny_plugin:no_such_builder",
            "constant": "tiny_plugin:NOT_CALLABLE",
            "raises": "bad_plugin:build",
        },
        {
            "tiny_plugin": TINY_PLUGIN,
            "bad_plugin": "raise RuntimeError('plugin exploded on import')",
        },
    )
    with pytest.warns(UserWarning) as record:
        names = list_architectures()
    assert names == ["se_resnet", "secnn", "tiny"]
    messages = "\n".join(str(w.message) for w in record)
    assert len(record) == 4
    assert "'missing' (no_such_module_xyz:build) failed to load" in messages
    assert "ModuleNotFoundError" in messages and "no_such_module_xyz" in messages
    assert "'no_attr'" in messages and "AttributeError" in messages
    assert "'constant'" in messages and "not callable" in messages
    assert "'raises'" in messages and "plugin exploded on import" in messages
    # the warnings point at the caller, not at the library's internals
    assert all(w.filename == __file__ for w in record)

    with pytest.raises(ValueError, match="unknown architecture 'missing'"):
        get_architecture("missing")
    assert get_architecture("tiny")(n_classes=2) is not None


def test_plugin_cannot_replace_a_builtin(install_plugin):
    install_plugin(
        "tiny_plugin", {"secnn": "tiny_plugin:build"}, {"tiny_plugin": TINY_PLUGIN}
    )
    with pytest.warns(UserWarning, match="'secnn'.*already registered.*kept"):
        assert list_architectures() == ["se_resnet", "secnn"]
    assert get_architecture("secnn") is SECNN


def test_plugin_cannot_use_the_timm_prefix(install_plugin):
    install_plugin(
        "tiny_plugin", {"timm:fake": "tiny_plugin:build"}, {"tiny_plugin": TINY_PLUGIN}
    )
    with pytest.warns(UserWarning, match="reserved prefix"):
        assert list_architectures() == ["se_resnet", "secnn"]


def test_discovery_is_lazy_and_cached(install_plugin, monkeypatch):
    calls = []
    real_entry_points = _registry.entry_points

    def counting_entry_points(**kwargs):
        calls.append(kwargs)
        return real_entry_points(**kwargs)

    monkeypatch.setattr(_registry, "entry_points", counting_entry_points)
    install_plugin(
        "tiny_plugin", {"tiny": "tiny_plugin:build"}, {"tiny_plugin": TINY_PLUGIN}
    )

    get_architecture("secnn")  # a registered name needs no discovery
    assert calls == []
    get_architecture("tiny")
    list_architectures()
    get_architecture("tiny")
    assert calls == [{"group": GROUP}]

    _registry._reset_plugin_cache()
    list_architectures()
    assert len(calls) == 2


def test_broken_plugin_warns_once(install_plugin):
    install_plugin("tiny_plugin", {"missing": "no_such_module_xyz:build"})
    with pytest.warns(UserWarning, match="missing"):
        list_architectures()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list_architectures()
        with pytest.raises(ValueError):
            get_architecture("missing")


def test_registered_name_wins_over_later_plugin(install_plugin):
    def probe(n_classes, in_channels=3):
        return nn.Linear(in_channels, n_classes)

    register_architecture("tiny", probe)
    install_plugin(
        "tiny_plugin", {"tiny": "tiny_plugin:build"}, {"tiny_plugin": TINY_PLUGIN}
    )
    with pytest.warns(UserWarning, match="'tiny'.*kept"):
        assert list_architectures().count("tiny") == 1
    assert get_architecture("tiny") is probe


def test_plugin_builder_pickles(install_plugin):
    install_plugin(
        "tiny_plugin", {"tiny": "tiny_plugin:build"}, {"tiny_plugin": TINY_PLUGIN}
    )
    build = get_architecture("tiny")
    assert pickle.loads(pickle.dumps(build)) is build
