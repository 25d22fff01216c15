"""Custom TFX components of the genre-classification pipeline, one folder each, and the modules they share
(formats, featurizer, spectrogram, musicnn, musicnn_settings, resampling, waveform, progress, tfrecord_sink,
ledger, json_files, beam_data_plane, settings_base, statistics_executor, classification_metrics): a component
package imports only these, never another component."""

import os

# TFX 1.16's Trainer/Evaluator/Transform expect Keras 2 (tf_keras); this must be set before TensorFlow is first
# imported. The one place it is set: every entry point passes through this package (the `pipeline` package
# imports it first, executors run in containers through `components.*`, pytest's conftest.py imports it).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 and friends; on an AVX2-only CPU
# it falls back to Eigen's convolutions, which make the transform's musicnn embedding ~2x slower and fault in
# ~50 MB of fresh pages per example (make bench-transform, SpectrogramTransform on 1,600 examples: 400 -> 267
# CPU s). Results stay within the featurizer's documented bounds. A user's own setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def __getattr__(name: str):
    # Kubeflow's container entrypoint imports a custom artifact class by its schema title, which must be
    # "<top-level module>.<Class>" (TFX's KFP compiler): "components.RunReport" resolves here, lazily, so that
    # importing `components` stays free of TFX.
    if name == "RunReport":
        from components.run_reporter.component import RunReport

        return RunReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
