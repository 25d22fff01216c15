"""Test helpers and session fixtures (registered for every test by the root conftest.py): a tiny transformed
Examples artifact (1 s segments, 32 mels, 32x32 images), its exported featurizer, and a cnn2d_mel model
trained on it through the real TFX Trainer executor."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from components import ledger
from components.featurizer import IMAGE_OUTPUT, LOG_MEL_OUTPUT
from components.formats import SPLITS
from components.json_files import write_json
from pipeline import component_settings
from pipeline.config import load_config

FIXTURE_AUDIO = Path(__file__).resolve().parents[2] / "tests" / "data" / "audio"
DRUM_BASS = FIXTURE_AUDIO / "admiralbob77_-_Choice_-_Drum-bass.ogg"  # 25 s, 22.05 kHz mono, real music
VIBE_ACE = FIXTURE_AUDIO / "Kevin_MacLeod_-_Vibe_Ace.ogg"  # 61.5 s, 22.05 kHz mono

SMALL_OVERRIDES = [
    "audio.segment_seconds=1",
    "trainer.model_family=cnn2d_mel",  # 1 s examples: shorter than musicnn's 3 s patch
    "transform.spectrogram.n_mels=32",
    "transform.spectrogram.image_size=32",
    "trainer.epochs=3",
    "trainer.batch_size=8",
    "trainer.learning_rate=0.01",
    "trainer.early_stopping_patience=2",
    "trainer.mobilenet.weights=random",
]


def small_config(*extra: str):
    return load_config(None, [*SMALL_OVERRIDES, *extra])


def real_clip(path: Path = DRUM_BASS, seconds_offset: float = 0.0, samples: int = 22050) -> np.ndarray:
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    assert rate == 22050, "the fixture clips are 22.05 kHz"
    start = int(seconds_offset * rate)
    return audio[start : start + samples, 0].copy()


@pytest.fixture(scope="session")
def settings():

    # One tiny artifact serves every family's tests, so it carries both spectral outputs (a pipeline run
    # computes only the one its model family reads).
    return component_settings.spectrogram_settings(small_config()).replace(spectra=(LOG_MEL_OUTPUT, IMAGE_OUTPUT))


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory, settings):
    """{"examples": artifact root with Split-train/eval/test, "featurizer": exported featurizer dir}.

    Tones (one pitch per genre: learnable in a few steps) in every split, and real music segments in
    train and test; train has two shards so interleaving and shard shuffling are exercised."""
    from components.featurizer import export_featurizer
    from tests.helpers import keras_data as testdata

    root = tmp_path_factory.mktemp("keras-trainer")
    config = small_config()
    featurizer_dir = str(root / "featurizer")
    export_featurizer(settings, featurizer_dir)
    examples = str(root / "examples")
    genres = config.genres
    music = [testdata.Segment(real_clip(DRUM_BASS, s), 0, genres[0], 900001, i, 4) for i, s in enumerate((2, 5, 8, 11))]
    splits = {
        "train": testdata.tone_segments(genres, 6, settings, seed=1) + music[:2],
        "eval": testdata.tone_segments(genres, 2, settings, seed=2, first_track_id=50000),
        "test": testdata.tone_segments(genres, 2, settings, seed=3, first_track_id=90000) + music[2:],
    }
    counts = {}
    for split, segments in splits.items():
        testdata.write_split(
            examples, split, testdata.transform_segments(segments, settings), shards=2 if split == "train" else 1
        )
        counts[split] = len(segments)
    # What SpectrogramTransform records beside its splits: the counts the Trainer checks what it reads against.
    write_json(os.path.join(examples, ledger.SUMMARY_FILE), {ledger.EXAMPLES_WRITTEN: counts})
    return {"examples": examples, "featurizer": featurizer_dir, "counts": counts, "root": str(root)}


def run_trainer(tiny_artifact, output_dir: str, config, splits=SPLITS, train_steps: int = 0):
    """The standard TFX Trainer's executor (GenericExecutor) running our run_fn, as the pipeline runs it."""
    from tfx.components.trainer import executor as trainer_executor
    from tfx.proto import trainer_pb2
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.types import standard_component_specs as keys
    from tfx.utils import json_utils, proto_utils

    examples = standard_artifacts.Examples()
    examples.uri = tiny_artifact["examples"]
    examples.split_names = artifact_utils.encode_split_names(list(splits))
    transform_graph = standard_artifacts.TransformGraph()
    transform_graph.uri = tiny_artifact["featurizer"]
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri, model_run.uri = os.path.join(output_dir, "model"), os.path.join(output_dir, "model_run")
    exec_properties = {
        keys.TRAIN_ARGS_KEY: proto_utils.proto_to_json(trainer_pb2.TrainArgs(splits=["train"], num_steps=train_steps)),
        keys.EVAL_ARGS_KEY: proto_utils.proto_to_json(trainer_pb2.EvalArgs(splits=["eval"])),
        keys.RUN_FN_KEY: "components.keras_trainer.trainer.run_fn",
        keys.CUSTOM_CONFIG_KEY: json_utils.dumps(component_settings.trainer_settings(config).to_custom_config()),
    }
    trainer_executor.GenericExecutor().Do(
        {keys.EXAMPLES_KEY: [examples], keys.TRANSFORM_GRAPH_KEY: [transform_graph]},
        {keys.MODEL_KEY: [model], keys.MODEL_RUN_KEY: [model_run]},
        exec_properties,
    )
    from tfx.utils import path_utils

    return {"serving_model_dir": path_utils.serving_model_dir(model.uri), "model_run_dir": model_run.uri}


def serve_split(loaded, examples_root: str, split: str, batch_size: int = 32):
    """(probabilities [examples, genres], labels, track ids) of one split of a transformed Examples artifact,
    as the served model's serving_examples signature scores its examples: the model's own view, apart
    from anything the Trainer computed."""
    import tensorflow as tf

    from components.formats import examples as features
    from components.formats.serving import EXAMPLES_INPUT, PROBABILITIES, SERVING_EXAMPLES
    from tests.helpers.keras_data import read_records

    records = list(read_records(sorted(glob.glob(os.path.join(examples_root, f"Split-{split}", "*")))))
    spec = {name: tf.io.FixedLenFeature([], tf.int64) for name in (features.LABEL, features.TRACK_ID)}
    parsed = tf.io.parse_example(tf.constant(records), spec)
    serve = loaded.signatures[SERVING_EXAMPLES]
    probabilities = np.concatenate(
        [
            serve(**{EXAMPLES_INPUT: tf.constant(records[i : i + batch_size])})[PROBABILITIES].numpy()
            for i in range(0, len(records), batch_size)
        ]
    )
    return probabilities, parsed[features.LABEL].numpy(), parsed[features.TRACK_ID].numpy()


def track_accuracy(probabilities: np.ndarray, labels: np.ndarray, tracks: np.ndarray) -> tuple[float, int]:
    """(accuracy, tracks): a track is called for the argmax of its segments' mean probabilities."""
    correct = []
    for track in sorted(set(tracks.tolist())):
        mine = tracks == track
        assert len(set(labels[mine].tolist())) == 1, f"track {track} has segments of several labels"
        correct.append(np.argmax(probabilities[mine].mean(axis=0)) == labels[mine][0])
    return sum(correct) / len(correct), len(correct)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tiny_artifact):
    """A cnn2d_mel model trained by run_fn on the tiny artifact: its output dirs."""
    output = str(tmp_path_factory.mktemp("trained"))
    return run_trainer(tiny_artifact, output, small_config())


@pytest.fixture(scope="session")
def served(trained):
    import tensorflow as tf

    return tf.saved_model.load(trained["serving_model_dir"])


MUSICNN_OVERRIDES = ["audio.segment_seconds=3", "trainer.model_family=musicnn_transfer", "trainer.epochs=20"]


@pytest.fixture(scope="session")
def musicnn_artifact(tmp_path_factory):
    """A tiny transformed Examples artifact for musicnn_transfer: 3 s segments (musicnn's patch), each with the
    musicnn embedding the exported featurizer computed; tones per genre, and real music in train and test.
    {"examples", "featurizer", "counts", "settings", "config"}."""
    from components.featurizer import export_featurizer, load_featurizer
    from tests.helpers import keras_data as testdata

    config = small_config(*MUSICNN_OVERRIDES)
    settings = component_settings.spectrogram_settings(config)
    assert settings.musicnn is not None, "musicnn_transfer makes the featurizer compute the embedding"
    root = tmp_path_factory.mktemp("musicnn-trainer")
    featurizer_dir = str(root / "featurizer")
    export_featurizer(settings, featurizer_dir)
    featurizer = load_featurizer(featurizer_dir)
    genres, samples = config.genres, settings.num_samples
    music = [
        testdata.Segment(real_clip(VIBE_ACE, s, samples), 0, genres[0], 900001, i, 4) for i, s in enumerate((3, 9))
    ]
    splits = {
        "train": testdata.tone_segments(genres, 4, settings, seed=1) + music[:1],
        "eval": testdata.tone_segments(genres, 2, settings, seed=2, first_track_id=50000),
        "test": testdata.tone_segments(genres, 2, settings, seed=3, first_track_id=90000) + music[1:],
    }
    examples = str(root / "examples")
    counts = {}
    for split, segments in splits.items():
        testdata.write_split(examples, split, testdata.transform_segments(segments, settings, featurizer.module))
        counts[split] = len(segments)
    write_json(os.path.join(examples, ledger.SUMMARY_FILE), {ledger.EXAMPLES_WRITTEN: counts})
    return {
        "examples": examples,
        "featurizer": featurizer_dir,
        "counts": counts,
        "settings": settings,
        "config": config,
    }
