"""The executor end to end in Beam: AudioExampleGen examples of real music in, transformed examples out,
with every unusable example (silent, too short, mislabelled, malformed, wrong length) in the quarantine."""

import collections
import glob
import json
import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from components.audio_example_gen.ingest import process_item
from components.audio_example_gen.sources import SourceItem
from components.featurizer import build_featurizer, load_featurizer
from components.formats import examples as source
from components.spectrogram_transform import engineered, executor, features
from pipeline import component_settings
from pipeline.config import load_config
from tests.helpers import factories

# 1 s examples and the quick preset keep the run short; the fma preset has its own tests.
OVERRIDES = [
    "audio.segment_seconds=1.0",
    "trainer.model_family=cnn2d_mel",  # no musicnn embedding (its 3 s patch): tests/musicnn_pipeline_e2e_test.py
    "audio.min_duration_seconds=0",
    "transform.engineered_preset=quick",
    "transform.batch_size=4",
    "transform.min_seconds=0.5",
]


def _ingest(path, track_id, genre, config, split) -> list[bytes]:
    """AudioExampleGen's own worker code on one file: the examples it would write."""
    item = SourceItem(
        str(path), os.path.basename(path), track_id, 7000 + track_id, genre, config.genres.index(genre), split
    )
    outcome, examples = process_item(item, component_settings.ingest_settings(config))
    assert outcome.status == "ok", outcome
    return examples


def _edited(serialized: bytes, **changes) -> bytes:
    example = tf.train.Example.FromString(serialized)
    for name, value in changes.items():
        feature = example.features.feature[name]
        if isinstance(value, bytes):
            feature.bytes_list.value[:] = [value]
        else:
            feature.int64_list.value[:] = [value]
    return example.SerializeToString()


def _inputs(tmp_path, config):
    """{split: serialized examples} (good ones first) and {(track id, segment): expected reason}."""
    music_then_silence = tmp_path / "music_then_silence.wav"
    clip, rate = sf.read(str(factories.DRUM_BASS), dtype="float32")
    sf.write(str(music_then_silence), np.concatenate([clip[5 * rate : 7 * rate], np.zeros(rate, np.float32)]), rate)
    short = factories.write_audio(tmp_path / "short.wav", seconds=0.3, rate=22050, channels=1, fmt="WAV")
    padded = factories.write_audio(tmp_path / "padded.wav", seconds=0.7, rate=22050, channels=1, fmt="WAV", freq=330)
    half_second = load_config(overrides=[*OVERRIDES, "audio.segment_seconds=0.5"])

    train = _ingest(factories.DRUM_BASS, 1, "Electronic", config, "train")[:3]
    quiet_tail = _ingest(music_then_silence, 2, "Rock", config, "train")  # 2 s of music, then 1 s of zeros
    train += quiet_tail
    train.append(_ingest(short, 3, "Folk", config, "train")[0])  # 0.3 s, zero-padded to 1 s
    train.append(_ingest(padded, 8, "Folk", config, "train")[0])  # 0.7 s, zero-padded to 1 s: kept
    train.append(_edited(train[0], **{source.GENRE: b"Rock", source.TRACK_ID: 4}))
    train.append(b"this is not a tf.Example")
    train.append(_ingest(factories.DRUM_BASS, 5, "Electronic", half_second, "train")[0])
    expected = {
        (2, 2): "silent",
        (3, 0): "too_short",
        (4, 0): "label_mismatch",
        (None, None): "bad_example",
        (5, 0): "wrong_shape",
    }
    splits = {
        "train": train,
        "eval": _ingest(factories.VIBE_ACE, 6, "Instrumental", config, "eval")[10:12],
        "test": _ingest(factories.FMA_EXCERPT, 10, "Pop", config, "test")[:1],
    }
    return splits, expected


def _examples_artifact(uri, splits: dict[str, list[bytes]], recorded=None, shards=1):
    """An Examples artifact of `splits` in `shards` files per split (records dealt round-robin); `recorded`
    ({split: n}) is written as AudioExampleGen's summary.json records the examples it wrote."""
    examples = standard_artifacts.Examples()
    examples.uri = str(uri)
    examples.split_names = artifact_utils.encode_split_names(list(splits))
    for split, records in splits.items():
        directory = os.path.join(examples.uri, f"Split-{split}")
        os.makedirs(directory)
        for shard in range(shards):
            name = f"data_tfrecord-{shard:05d}-of-{shards:05d}.gz"
            with tf.io.TFRecordWriter(os.path.join(directory, name), "GZIP") as writer:
                for record in records[shard::shards]:
                    writer.write(record)
    if recorded is not None:
        with open(os.path.join(examples.uri, "summary.json"), "w") as f:
            json.dump({"examples_written": recorded}, f)
    return examples


def audio_schema(skip=()) -> schema_pb2.Schema:
    """What SchemaGen infers from AudioExampleGen's statistics: the statistics features, with their types."""
    schema = schema_pb2.Schema()
    for name in source.STATISTICS_FEATURES:
        if name in skip:
            continue
        feature = schema.feature.add(name=name)
        feature.type = (
            schema_pb2.INT
            if name in source.INT_FEATURES
            else schema_pb2.FLOAT
            if name in source.FLOAT_FEATURES
            else schema_pb2.BYTES
        )
    return schema


def _schema_artifact(uri, schema):
    artifact = standard_artifacts.Schema()
    artifact.uri = str(uri)
    os.makedirs(artifact.uri)
    io_utils.write_pbtxt_file(os.path.join(artifact.uri, "schema.pbtxt"), schema)
    return artifact


def storing_everything(config):
    """The config's transform settings, but storing both spectral outputs and the waveform in every split (a
    pipeline stores only what its models read: test_stores_only_what_the_configured_models_read)."""
    settings = component_settings.transform_settings(config)
    featurizer = settings.featurizer.replace(spectra=("log_mel", "mel_image"))
    return settings.model_copy(update={"featurizer": featurizer, "waveform_splits": None})


def run_executor(tmp_path, splits, config, schema=None, recorded=None, beam_args=None, shards=1, settings=None):
    examples = _examples_artifact(tmp_path / "examples", splits, recorded, shards)
    transformed, featurizer = standard_artifacts.Examples(), standard_artifacts.TransformGraph()
    transformed.uri, featurizer.uri = str(tmp_path / "transformed"), str(tmp_path / "featurizer")
    os.makedirs(transformed.uri)
    os.makedirs(featurizer.uri)
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=beam_args or ["--direct_num_workers=1", "--direct_running_mode=in_memory"],
        tmp_dir=str(tmp_path / "tmp"),
        unique_id="test",
    )
    executor.Executor(context).Do(
        {
            executor.EXAMPLES_KEY: [examples],
            executor.SCHEMA_KEY: [_schema_artifact(tmp_path / "schema", schema or audio_schema())],
        },
        {executor.TRANSFORMED_EXAMPLES_KEY: [transformed], executor.FEATURIZER_KEY: [featurizer]},
        {executor.TRANSFORM_CONFIG_KEY: (settings or storing_everything(config)).model_dump_json()},
    )
    return transformed, featurizer


def read_split(examples, split) -> list[tf.train.Example]:
    files = glob.glob(os.path.join(artifact_utils.get_split_uri([examples], split), "*.gz"))
    assert files, f"no TFRecord files in split {split}"
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _value(example, name):
    feature = example.features.feature[name]
    return getattr(feature, feature.WhichOneof("kind")).value


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("transform")
    config = load_config(overrides=OVERRIDES)
    splits, expected = _inputs(tmp_path, config)
    transformed, featurizer = run_executor(tmp_path, splits, config)
    return config, splits, expected, transformed, featurizer


def test_outputs_same_splits_with_the_contracted_features(run):
    config, splits, _, transformed, _ = run
    assert artifact_utils.decode_split_names(transformed.split_names) == list(splits)
    assert transformed.get_string_custom_property("file_format") == "tfrecords_gzip"
    frames, mels = 1 + 22050 // 512, config.transform.spectrogram.n_mels
    names = engineered.feature_names("quick")
    for split in splits:
        records = read_split(transformed, split)
        assert records
        for example in records:
            assert set(example.features.feature) == {
                *features.PASSTHROUGH,
                features.LOG_MEL,
                features.MEL_IMAGE,
                features.ENGINEERED,
            }
            assert len(_value(example, features.LOG_MEL)) == frames * mels
            assert len(_value(example, features.MEL_IMAGE)[0]) == 224 * 224 * 3
            assert len(_value(example, features.ENGINEERED)) == len(names)
            assert all(np.isfinite(_value(example, features.ENGINEERED)))
    with open(os.path.join(transformed.uri, features.ENGINEERED_NAMES_FILE)) as f:
        assert json.load(f) == names


def test_spectra_are_the_exported_featurizers_and_passthrough_is_copied(run):
    config, splits, _, transformed, featurizer = run
    exported = load_featurizer(featurizer.uri)
    in_memory = build_featurizer(exported.settings)
    inputs = {
        (_value(e, source.TRACK_ID)[0], _value(e, source.SEGMENT_INDEX)[0]): e
        for e in map(tf.train.Example.FromString, splits["eval"])
    }
    for example in read_split(transformed, "eval"):
        key = (_value(example, source.TRACK_ID)[0], _value(example, source.SEGMENT_INDEX)[0])
        original = inputs[key]
        for name in features.PASSTHROUGH:
            assert example.features.feature[name] == original.features.feature[name], name
        waveform = source.decode_waveform(_value(example, source.AUDIO)[0]).numpy()[None]
        expected = exported.featurize(waveform)
        log_mel = np.array(_value(example, features.LOG_MEL), np.float32).reshape(exported.settings.log_mel_shape)
        np.testing.assert_array_equal(log_mel, expected["log_mel"].numpy()[0])
        np.testing.assert_allclose(log_mel, in_memory.featurize(waveform)["log_mel"].numpy()[0], atol=1e-4)
        image = np.frombuffer(_value(example, features.MEL_IMAGE)[0], np.uint8).reshape(224, 224, 3)
        np.testing.assert_array_equal(image, expected["mel_image"].numpy()[0])
        vector = engineered.compute(waveform[0], 22050, "quick")
        np.testing.assert_allclose(_value(example, features.ENGINEERED), vector, rtol=1e-6)


def test_engineered_features_describe_the_audio_not_its_zero_padding(run):
    _, _, _, transformed, _ = run
    (padded,) = [e for e in read_split(transformed, "train") if _value(e, source.TRACK_ID)[0] == 8]
    waveform = source.decode_waveform(_value(padded, source.AUDIO)[0]).numpy()
    content = int(round(0.7 * 22050))
    assert not np.any(waveform[content:]) and np.all(waveform[content - 100 : content] != 0)
    np.testing.assert_allclose(
        _value(padded, features.ENGINEERED), engineered.compute(waveform[:content], 22050, "quick"), rtol=1e-6
    )
    assert not np.allclose(_value(padded, features.ENGINEERED), engineered.compute(waveform, 22050, "quick"), rtol=1e-3)
    # The spectra keep the whole fixed-length waveform: serving sees the same length.
    assert len(_value(padded, features.LOG_MEL)) == (1 + 22050 // 512) * 128
    # The music-then-silence track keeps its two musical segments; its silent third is quarantined.
    kept = [e for e in read_split(transformed, "train") if _value(e, source.TRACK_ID)[0] == 2]
    assert sorted(_value(e, source.SEGMENT_INDEX)[0] for e in kept) == [0, 1]


def test_every_unusable_example_is_quarantined_and_counts_reconcile(run):
    _, splits, expected, transformed, _ = run
    with open(os.path.join(transformed.uri, features.QUARANTINE_FILE), encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    assert {(q["track_id"], q["segment_index"]): q["reason"] for q in lines} == expected
    assert all(q["split"] == "train" and q["detail"] for q in lines)
    assert set(lines[0]) == {"split", "track_id", "segment_index", "source_path", "reason", "detail"}
    with open(os.path.join(transformed.uri, features.SUMMARY_FILE)) as f:
        summary = json.load(f)
    assert summary["reconciles"] is True
    for split, records in splits.items():
        entry = summary["splits"][split]
        assert entry["examples_in"] == len(records) == entry["examples_out"] + entry["quarantined"]
        assert entry["examples_out"] == len(read_split(transformed, split))
    assert summary["splits"]["train"]["quarantined_by_reason"] == dict.fromkeys(expected.values(), 1)
    assert transformed.get_int_custom_property("quarantined") == len(expected)
    assert summary["engineered_preset"] == "quick" and summary["engineered_features"] == 308
    # No scratch files left beside the outputs.
    assert not [n for n in os.listdir(transformed.uri) if n.startswith(".")]


def _ids(example) -> tuple:
    return (_value(example, source.TRACK_ID)[0], _value(example, source.SEGMENT_INDEX)[0])


@pytest.mark.slow
def test_multi_process_run_over_sharded_splits_accounts_for_every_record(tmp_path):
    """The pipeline's own running mode (worker processes), several shards per split and a few hundred short
    examples, bad ones among them: per split, the records read back from the output files plus the quarantine
    lines are the records in the input files, example by example, so nothing is lost between shards or
    workers."""
    config = load_config(
        overrides=[
            *OVERRIDES,
            "audio.segment_seconds=0.25",
            "transform.min_seconds=0.1",
            "transform.spectrogram.n_mels=32",
            "transform.spectrogram.image_size=32",
            "example_gen.num_shards=2",  # output shards per split
        ]
    )
    vibe = _ingest(factories.VIBE_ACE, 6, "Instrumental", config, "eval")
    splits = {
        "train": _ingest(factories.DRUM_BASS, 1, "Electronic", config, "train") + vibe[:90],
        "eval": vibe[90:150],
        "test": vibe[150:210],
    }
    # One of each unusable kind per split, spread over its input shards.
    planted = {}
    for position, (split, records) in enumerate(splits.items()):
        zeros = bytes(2 * config.audio.example_samples)
        silent = _edited(records[0], **{source.AUDIO: zeros, source.TRACK_ID: 70 + position})
        mislabelled = _edited(records[1], **{source.GENRE: b"Rock", source.TRACK_ID: 80 + position})
        for offset, record in zip((3, 17 + position, 40), (silent, mislabelled, b"not a tf.Example")):
            records.insert(offset, record)
        planted[split] = {"silent": 1, "label_mismatch": 1, "bad_example": 1}
    transformed, _ = run_executor(
        tmp_path,
        splits,
        config,
        beam_args=["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
        shards=3,
    )
    with open(os.path.join(transformed.uri, features.QUARANTINE_FILE), encoding="utf-8") as f:
        quarantine = [json.loads(line) for line in f]
    for split in splits:
        files = sorted(glob.glob(os.path.join(tmp_path, "examples", f"Split-{split}", "*.gz")))
        inputs = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
        assert len(files) == 3 and len(inputs) == len(splits[split]) > 60
        written = read_split(transformed, split)
        quarantined = [q for q in quarantine if q["split"] == split]
        assert len(written) + len(quarantined) == len(inputs), split
        assert collections.Counter(q["reason"] for q in quarantined) == planted[split]
        # Example by example: each input is written or quarantined, once (the bytes that are no tf.Example
        # have no ids).
        expected = [_ids(tf.train.Example.FromString(r)) for r in inputs if r != b"not a tf.Example"]
        accounted = [_ids(e) for e in written] + [(q["track_id"], q["segment_index"]) for q in quarantined]
        assert collections.Counter(accounted) == collections.Counter([*expected, (None, None)]), split
    assert len(glob.glob(os.path.join(transformed.uri, "Split-train", "*.gz"))) == 2


def test_stores_only_what_the_configured_models_read(tmp_path):
    """cnn2d_mel without baselines: the log-mel in every split, the waveform only in the Evaluator's split, no
    image and no engineered features (nor their csv files); the ledger still balances without the csv."""
    config = load_config(overrides=[*OVERRIDES, "baselines.enabled=false"])
    clips = _ingest(factories.DRUM_BASS, 1, "Electronic", config, "train")
    splits = {"train": clips[:4], "eval": clips[4:6], "test": clips[6:8]}
    settings = component_settings.transform_settings(config)
    recorded = {split: len(records) for split, records in splits.items()}
    transformed, featurizer = run_executor(tmp_path, splits, config, recorded=recorded, settings=settings)
    metadata = set(features.PASSTHROUGH) - {source.AUDIO}
    for split in splits:
        stored = [set(e.features.feature) for e in read_split(transformed, split)]
        waveform = {source.AUDIO} if split == "test" else set()
        assert stored == [metadata | waveform | {features.LOG_MEL}] * len(splits[split]), split
    assert sorted(os.listdir(transformed.uri)) == sorted(
        [*(f"Split-{s}" for s in splits), features.QUARANTINE_FILE, features.SUMMARY_FILE]
    )
    assert set(featurizer_outputs(featurizer)) == {"log_mel"}
    with open(os.path.join(transformed.uri, features.SUMMARY_FILE)) as f:
        summary = json.load(f)
    assert summary["stored_features"] == {features.LOG_MEL: "all", source.AUDIO: ["test"]}
    assert summary["reconciles"] is True and summary["engineered_features"] == 0
    assert [e["what"] for e in summary["ledger"] if e["split"] == "train"] == [
        "read",
        f"wrote (counted in {transformed.uri})",
    ]


def featurizer_outputs(featurizer) -> dict:
    exported = load_featurizer(featurizer.uri)
    return exported.featurize(np.zeros((1, exported.settings.num_samples), np.float32))


def test_counts_are_checked_against_what_upstream_recorded_not_what_was_read(tmp_path):
    """AudioExampleGen recorded more train examples than reach the transform (as when a runner drops
    records): the transform fails, naming both figures, both artifacts and the split, instead of
    reporting that what it read reconciles with what it wrote."""
    from components.ledger import LedgerMismatch

    config = load_config(overrides=OVERRIDES)
    good = _ingest(factories.DRUM_BASS, 1, "Electronic", config, "train")[:3]
    other = _ingest(factories.VIBE_ACE, 6, "Instrumental", config, "eval")[10:11]
    with pytest.raises(LedgerMismatch) as error:
        run_executor(tmp_path, {"train": good, "eval": other}, config, recorded={"train": 4, "eval": 1})
    message = str(error.value)
    assert (
        f"SpectrogramTransform, split 'train': read 3 examples, but AudioExampleGen {tmp_path / 'examples'} "
        "recorded 4 (1 missing)" in message
    )
    assert str(tmp_path / "transformed") in message and "'eval'" not in message
    with open(tmp_path / "transformed" / features.SUMMARY_FILE) as f:
        summary = json.load(f)
    assert summary["reconciles"] is False
    assert summary["splits"]["train"]["examples_upstream"] == 4
    assert summary["splits"]["train"]["examples_written"] == 3 == summary["splits"]["train"]["examples_in"]
    assert summary["examples_written"] == {"train": 3, "eval": 1}


def test_recorded_counts_that_match_pass_and_are_passed_on(tmp_path):
    config = load_config(overrides=OVERRIDES)
    good = _ingest(factories.DRUM_BASS, 1, "Electronic", config, "train")[:3]
    transformed, _ = run_executor(tmp_path, {"train": good}, config, recorded={"train": 3})
    with open(os.path.join(transformed.uri, features.SUMMARY_FILE)) as f:
        summary = json.load(f)
    assert summary["reconciles"] is True
    assert summary["upstream"] == f"AudioExampleGen {tmp_path / 'examples'}"
    assert summary["examples_written"] == {"train": 3}
    assert [(e["what"].split(" ")[0], e["balanced"]) for e in summary["ledger"]] == [
        ("read", True),
        ("wrote", True),
        ("wrote", True),
    ]
    assert summary["splits"]["train"]["csv_rows"] == 3


def test_features_csv_is_readable_like_fmas(run):
    _, _, _, transformed, _ = run
    for split in ("train", "eval", "test"):
        table = pd.read_csv(os.path.join(transformed.uri, f"features_{split}.csv"), index_col=0, header=[0, 1, 2])
        assert table.index.name == "track_id"
        assert list(table.columns.names) == ["feature", "statistics", "number"]
        assert ["/".join(c) for c in table.columns] == engineered.feature_names("quick")
        records = read_split(transformed, split)
        assert len(table) == len(records)
        by_track = {}
        for e in records:
            by_track.setdefault(_value(e, source.TRACK_ID)[0], []).append(np.array(_value(e, features.ENGINEERED)))
        for track_id, row in table.iterrows():
            assert any(np.allclose(row.to_numpy(), v, rtol=1e-6, atol=1e-30) for v in by_track[track_id])


def test_features_csv_is_joined_from_beams_shards_and_the_shards_go(run):
    _, _, _, transformed, _ = run
    names = os.listdir(transformed.uri)
    assert {"features_train.csv", "features_eval.csv", "features_test.csv"} <= set(names)
    assert not [n for n in names if n.startswith(".features_")]


def test_join_csv_parts_streams_the_shards_in_order_below_the_header(tmp_path):
    # Beam writes features_<split>.csv in shards (one file from Beam would be a GroupByKey of the whole split
    # in the local runner's memory); the executor joins them.
    for split, parts in {"train": ["3,c\n", "1,a\n2,b\n"], "test": []}.items():
        parts_dir = tmp_path / f".features_{split}.csv-parts"
        parts_dir.mkdir()
        for i, text in enumerate(parts):
            (parts_dir / f"part-{i:05d}-of-{len(parts):05d}").write_text(text)
    executor.join_csv_parts(str(tmp_path), ["train", "test"], "feature,x\nstatistics,y")
    assert (tmp_path / "features_train.csv").read_text() == "feature,x\nstatistics,y\n3,c\n1,a\n2,b\n"
    assert (tmp_path / "features_test.csv").read_text() == "feature,x\nstatistics,y\n"
    assert sorted(os.listdir(tmp_path)) == ["features_test.csv", "features_train.csv"]


def test_featurizer_artifact_holds_the_settings_it_was_built_with(run):
    config, _, _, _, featurizer = run
    loaded = load_featurizer(featurizer.uri)
    assert loaded.settings == storing_everything(config).featurizer
    assert loaded.settings.num_samples == 22050


def test_a_split_left_empty_is_a_clear_error_after_writing_the_quarantine(tmp_path):
    config = load_config(overrides=OVERRIDES)
    good = _ingest(factories.DRUM_BASS, 1, "Electronic", config, "train")[:2]
    silent = _edited(good[0], **{source.AUDIO: bytes(2 * 22050), source.TRACK_ID: 9})
    with pytest.raises(ValueError, match=r"split\(s\) \['eval'\] have no transformed examples.*silent"):
        run_executor(tmp_path, {"train": good, "eval": [silent]}, config)
    with open(tmp_path / "transformed" / features.QUARANTINE_FILE) as f:
        assert [json.loads(line)["reason"] for line in f] == ["silent"]


def test_schema_without_the_needed_features_fails_before_any_work(tmp_path):
    config = load_config(overrides=OVERRIDES)
    good = _ingest(factories.DRUM_BASS, 1, "Electronic", config, "train")[:1]
    with pytest.raises(ValueError, match="schema does not describe AudioExampleGen's examples: label is missing"):
        run_executor(tmp_path, {"train": good}, config, schema=audio_schema(skip=(source.LABEL,)))
    assert not os.listdir(tmp_path / "featurizer")


def test_examples_of_another_length_fail_before_any_work(tmp_path):
    config = load_config(overrides=OVERRIDES)
    three_seconds = load_config(overrides=[*OVERRIDES, "audio.segment_seconds=3.0"])
    records = _ingest(factories.DRUM_BASS, 1, "Electronic", three_seconds, "train")[:1]
    with pytest.raises(ValueError, match="hold 66150 samples at 22050 Hz, the featurizer takes 22050"):
        run_executor(tmp_path, {"train": records}, config)


def _worker(tmp_path, config, featurizer_config=None):
    """The DoFn as a Beam worker sets it up, without Beam."""
    from components.featurizer import export_featurizer
    from components.spectrogram_transform.transform import TransformBatch

    settings = component_settings.transform_settings(config)
    export_featurizer(component_settings.transform_settings(featurizer_config or config).featurizer, str(tmp_path))
    do_fn = TransformBatch(settings.model_dump_json(), str(tmp_path))
    do_fn.setup()
    return do_fn


def test_a_failing_featurizer_is_an_internal_error_per_example_not_a_crash(tmp_path):
    config = load_config(overrides=OVERRIDES)
    # A featurizer exported for 2 s examples cannot take 1 s waveforms: every call fails.
    do_fn = _worker(tmp_path, config, load_config(overrides=[*OVERRIDES, "audio.segment_seconds=2.0"]))
    records = _ingest(factories.DRUM_BASS, 1, "Electronic", config, "train")[:3]
    outcomes = list(do_fn.transform([("train", r) for r in records]))
    assert len(outcomes) == 3
    for split, record in outcomes:
        assert split == "train" and record.reason == "internal_error"
        assert record.detail.startswith("featurizer: ") and record.track_id == 1
    assert sorted(r.segment_index for _, r in outcomes) == [0, 1, 2]


def test_one_bad_example_does_not_take_its_batch_down(tmp_path):
    config = load_config(overrides=OVERRIDES)
    do_fn = _worker(tmp_path, config)
    good = _ingest(factories.DRUM_BASS, 1, "Electronic", config, "train")[:2]
    example = tf.train.Example.FromString(good[1])
    example.features.feature[source.PADDED_SECONDS].float_list.value[:] = [float("nan")]
    outcomes = list(do_fn.transform([("train", good[0]), ("eval", example.SerializeToString())]))
    written = [o for s, o in outcomes if isinstance(o, tuple)]
    (rejected,) = [o for s, o in outcomes if not isinstance(o, tuple)]
    assert len(written) == 1 and rejected.reason == "bad_example" and "padded_seconds is nan" in rejected.detail
    assert rejected.split == "eval" and rejected.segment_index == 1


def test_quarantine_file_exists_even_when_nothing_was_quarantined(tmp_path):
    executor.write_outputs(str(tmp_path), [], {"reconciles": True})
    assert (tmp_path / features.QUARANTINE_FILE).read_text() == ""
    assert json.loads((tmp_path / features.SUMMARY_FILE).read_text()) == {"reconciles": True}


def test_no_examples_cross_a_flatten_where_the_local_runner_would_hold_them_all(tmp_path):
    """Beam's local runner materialises a Flatten of inputs from different stages in its own memory: with the
    splits' examples flattened, an 8,000-clip run held ~10 GB of waveforms there and was killed. Each split is
    its own chain; only the per-split counts and the quarantine records are flattened."""
    import apache_beam as beam

    class Flattens(beam.pipeline.PipelineVisitor):
        def __init__(self):
            self.labels = []

        def visit_transform(self, node):
            if isinstance(node.transform, beam.Flatten):
                self.labels.append(node.full_label)

    config = load_config(overrides=OVERRIDES)
    pipeline = beam.Pipeline()
    patterns = {}
    for split in ("train", "eval", "test"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "data.gz").write_bytes(b"")  # the read checks its pattern matches a file
        patterns[split] = str(tmp_path / split / "*")
    executor._build_graph(
        pipeline, patterns, component_settings.transform_settings(config), "", str(tmp_path), ["zcr/mean/01"], ""
    )
    visitor = Flattens()
    pipeline.visit(visitor)
    assert sorted(visitor.labels) == ["AllQuarantined", "AllTallies"]
