"""Pytest passes through here first: `components` sets TF_USE_LEGACY_KERAS before any test module imports
TensorFlow (components/__init__.py, the one place it is set).

Fixtures shared across the component folders: a tiny transformed Examples artifact and a Keras model
trained on it through the real Trainer executor (tests/helpers/keras_trainer.py), used by the trainer's,
the evaluator's, the pusher's and the predict command's tests alike."""

import components  # noqa: F401  (first: Keras 2 before TensorFlow)

pytest_plugins = ["tests.helpers.keras_trainer"]
