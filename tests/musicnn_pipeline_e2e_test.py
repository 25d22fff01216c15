"""End to end with the pretrained family: musicnn_transfer and the baselines on the musicnn embedding, on
LocalDagRunner over demo clips, and the served model answering a real clip from its raw audio."""

import json
import os

import numpy as np
import pytest

from components import musicnn
from pipeline import cli
from pipeline import runs as pipeline_runs
from pipeline.config import load_config
from pipeline.datasets.demo import ensure_demo_dataset
from tests.helpers import factories

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-musicnn")
    demo_settings = ["demo.tracks_per_genre=6", "demo.clip_seconds=6", f"demo.root={tmp / 'demo'}"]
    demo_config = load_config(overrides=demo_settings)
    ensure_demo_dataset(demo_config.demo, demo_config.genres, demo_config.resolve(demo_config.demo.root))
    overrides = [
        f"dataset.audio_root={demo_config.audio_root}",
        f"dataset.metadata_dir={demo_config.metadata_dir}",
        f"output_root={tmp / 'runs'}",
        "audio.segment_seconds=3",
        "transform.engineered_preset=quick",
        "trainer.model_family=musicnn_transfer",
        "baselines.feature_set=musicnn",
        "baselines.algorithms=[logistic_regression,knn]",
        "evaluator.accuracy_floor=0",
        "evaluator.baseline_margin=-1",
    ]
    assert cli.main(["run-local"] + [arg for o in overrides for arg in ("--set", o)]) == 0
    config = load_config(overrides=overrides)
    return config, pipeline_runs.latest_outputs(config)


def _read(directory, name="metrics.json"):
    with open(os.path.join(directory, name), encoding="utf-8") as f:
        return json.load(f)


def test_the_transform_stored_the_embedding_and_both_trainers_read_it(pipeline_run):
    import tensorflow as tf

    config, outputs = pipeline_run
    assert outputs.run is not None and set(outputs.run.nodes.values()) == {"COMPLETE"}, outputs.run
    transformed = outputs["SpectrogramTransform.transformed_examples"]
    files = tf.io.gfile.glob(os.path.join(transformed, "Split-train", "*"))
    first = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP")))
    example = tf.train.Example.FromString(first.numpy())
    assert len(example.features.feature["musicnn_embedding"].float_list.value) == musicnn.OUTPUT_SIZES["mean_pool"]
    keras = _read(outputs["Trainer.model_run"])
    assert keras["model_family"] == "musicnn_transfer" and keras["training"]["musicnn_model"] == "MSD_musicnn"
    # Demo genres are different synthesizers: the frozen embedding separates them well above chance (1/8).
    assert keras["test"]["accuracy"] >= 0.6 and keras["test"]["track_accuracy"] >= 0.6, keras["test"]
    baselines = _read(outputs["SklearnBaselineTrainer.model"])
    assert baselines["feature_set"] == "musicnn" and baselines["num_features"] == 753
    # The run summary names the family and the baselines' input.
    from components.run_reporter import summary as run_summary
    from pipeline.report import collect

    printed = "\n".join(run_summary.models(collect(config, outputs)))
    assert "Keras musicnn_transfer" in printed and "sklearn logistic_regression on musicnn" in printed, printed


def test_served_model_answers_raw_audio_of_a_real_clip_through_the_pretrained_network(pipeline_run):
    import soundfile as sf
    import tensorflow as tf

    config, outputs = pipeline_run
    served_dir = os.path.join(outputs["Trainer.model"], "Format-Serving")
    model = tf.saved_model.load(served_dir)
    samples, rate = sf.read(str(factories.VIBE_ACE), dtype="float32")
    assert rate == config.audio.sample_rate
    window = samples[: config.audio.example_samples][None]
    result = model.signatures["serving_default"](waveform=tf.constant(window))
    probabilities = result["probabilities"].numpy()
    assert probabilities.shape == (1, len(config.genres)) and np.isclose(probabilities.sum(), 1.0, atol=1e-4)
    assert result["genre"].numpy()[0].decode() == config.genres[int(probabilities.argmax())]
    # The same answer from the wheel's network, rebuilt here, and the exported head.
    embedding = musicnn.build_embedder(rate, window.shape[1])(window)["mean_pool"].numpy().mean(axis=1)
    head = tf.keras.models.load_model(served_dir, compile=False)
    np.testing.assert_allclose(probabilities, head(embedding).numpy(), atol=1e-5)
