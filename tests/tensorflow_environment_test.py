"""The TensorFlow settings that `components` makes before TensorFlow is first imported, in a fresh process."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _environment_after_import(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "TF_ENABLE_ONEDNN_OPTS")}
    env.update(overrides, PYTHONPATH=REPO)
    script = "import os, components; print(os.environ['TF_USE_LEGACY_KERAS'], os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    keras, onednn = result.stdout.split()
    return {"TF_USE_LEGACY_KERAS": keras, "TF_ENABLE_ONEDNN_OPTS": onednn}


def test_components_turn_on_keras_2_and_onednn_kernels_by_default():
    assert _environment_after_import() == {"TF_USE_LEGACY_KERAS": "1", "TF_ENABLE_ONEDNN_OPTS": "1"}


@pytest.mark.parametrize("value", ["0", "1"])
def test_a_users_onednn_setting_wins(value):
    assert _environment_after_import(TF_ENABLE_ONEDNN_OPTS=value)["TF_ENABLE_ONEDNN_OPTS"] == value
