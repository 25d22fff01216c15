"""Fixtures shared across the component folders: a tiny transformed Examples artifact and a Keras model
trained on it through the real Trainer executor (components/keras_trainer/testing.py), used by the
trainer's, the evaluator's, the pusher's and the predict command's tests alike."""
pytest_plugins = ["components.keras_trainer.testing"]
