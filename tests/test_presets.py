"""Presets: every one builds, validates and accepts the CLI's overrides."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.errors import ConfigError
from digitnet.training import presets


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_preset_builds_and_runs_one_batch(name):
    model, config = presets.build(name, seed=3, epochs=1)
    config.validate()
    assert config.seed == 3 and config.epochs == 1 and config.warmup < 1
    x = np.random.default_rng(0).random((2,) + model.input_shape, dtype=np.float32)
    out = model.forward(x, training=True)
    assert out.shape == (2, 10) and np.all(np.isfinite(out))
    assert 0.9 <= presets.get(name).target < 1


def test_same_seed_same_initial_weights_and_default_exists():
    a, _ = presets.build("relu-128-64", seed=5)
    b, _ = presets.build("relu-128-64", seed=5)
    assert np.array_equal(a.flat_params, b.flat_params)
    assert presets.DEFAULT_PRESET in presets.PRESETS


def test_unknown_preset_and_bad_override():
    with pytest.raises(ConfigError, match="unknown preset 'vgg'"):
        presets.build("vgg")
    with pytest.raises(ConfigError, match="lr"):
        presets.build("mlp", lr=-1.0)
