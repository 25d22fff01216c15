"""The executor end to end in Beam: real audio in, real TFRecords and a reconciled quarantine out."""

import collections
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, standard_artifacts

from components.audio_example_gen import audio, executor, features
from pipeline import component_settings
from pipeline.config import PipelineConfig, load_config
from tests.helpers import factories


def _tiny_fma_dataset(root) -> tuple[str, str, dict[str, str]]:
    """Two tone tracks per genre (one artist each) in train/validation/test, plus every broken kind."""
    audio_root, metadata_dir = os.path.join(root, "fma_small"), os.path.join(root, "fma_metadata")
    os.makedirs(metadata_dir)
    import pandas as pd

    pd.DataFrame(
        columns=pd.MultiIndex.from_tuples(
            [("artist", "id"), ("set", "split"), ("set", "subset"), ("track", "genre_top"), ("track", "title")]
        ),
        index=pd.Index([], name="track_id"),
    ).to_csv(os.path.join(metadata_dir, "tracks.csv"))
    rows = []
    config = PipelineConfig()
    for g, genre in enumerate(config.genres):
        for k, split in enumerate(("training", "validation", "test")):
            track_id = 1000 + 10 * g + k
            factories.write_audio(
                factories.fma_path(audio_root, track_id),
                seconds=2.5,
                rate=44100,
                channels=2,
                freq=110.0 * (g + 1),
                seed=track_id,
            )
            rows.append({"track_id": track_id, "genre_top": genre, "split": split, "artist_id": 500 + 10 * g + k})
    # The same recording under two track ids, one in train and one in test: reported as a duplicate.
    import shutil

    for track_id, split in ((1500, "training"), (1501, "test")):
        target = factories.fma_path(audio_root, track_id, ".ogg")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(factories.VIBE_ACE, target)
        rows.append({"track_id": track_id, "genre_top": "Instrumental", "split": split, "artist_id": track_id})
    factories.add_fma_rows(metadata_dir, rows)
    expected = factories.add_broken_and_real_files(audio_root, metadata_dir)
    return audio_root, metadata_dir, expected


def _run_executor(tmp_path, overrides):
    audio_root, metadata_dir, expected = _tiny_fma_dataset(str(tmp_path / "data"))
    config = load_config(
        overrides=[f"dataset.audio_root={audio_root}", f"dataset.metadata_dir={metadata_dir}", *overrides]
    )
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "output")
    os.makedirs(examples.uri)
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=["--direct_num_workers=1", "--direct_running_mode=in_memory"],
        tmp_dir=str(tmp_path / "tmp"),
        unique_id="test",
    )
    executor.Executor(context).Do(
        {},
        {executor.EXAMPLES_KEY: [examples]},
        {
            executor.INGEST_CONFIG_KEY: component_settings.ingest_settings(config).model_dump_json(),
            executor.INPUT_FINGERPRINT_KEY: "abc",
        },
    )
    return config, examples, expected


def _inputs_on_disk(audio_root, metadata_dir) -> int:
    """What the test put there, counted here: the files under the FMA folders, and the rows of tracks.csv
    whose audio file is missing (each an input that was promised)."""
    files = [os.path.join(d, n) for d, _, names in os.walk(audio_root) if d != audio_root for n in names]
    missing = [t for t in factories.read_tracks(metadata_dir).index if not glob.glob(f"{audio_root}/*/{t:06d}.*")]
    return len(files) + len(missing)


def _track_ids(examples, split) -> set[int]:
    return {int(r[features.TRACK_ID]) for r in _read_split(examples, split)}


def _read_split(examples, split):
    files = glob.glob(os.path.join(artifact_utils.get_split_uri([examples], split), "*.gz"))
    assert files, f"no TFRecord files in split {split}"
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [tf.io.parse_single_example(r, features.feature_spec()) for r in dataset]


@pytest.fixture(scope="module")
def segmented_run(tmp_path_factory):
    return _run_executor(tmp_path_factory.mktemp("segmented"), ["audio.segment_seconds=1.0"])


def test_writes_standard_examples_layout_readable_back(segmented_run):
    config, examples, _ = segmented_run
    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval", "test"]
    assert examples.get_string_custom_property("file_format") == "tfrecords_gzip"
    for split in ("train", "eval", "test"):
        records = _read_split(examples, split)
        assert records
        for r in records:
            waveform = features.decode_waveform(r[features.AUDIO]).numpy()
            assert waveform.shape == (config.audio.example_samples,) == (22050,)
            assert int(r[features.AUDIO_NUM_SAMPLES]) == 22050 and int(r[features.SAMPLE_RATE]) == 22050
            genre = r[features.GENRE].numpy().decode()
            assert config.genres[int(r[features.LABEL])] == genre


def test_segments_keep_their_parent_track_and_split(segmented_run):
    _, examples, _ = segmented_run
    segments = collections.defaultdict(list)
    split_of = collections.defaultdict(set)
    for split in ("train", "eval", "test"):
        for r in _read_split(examples, split):
            tid = int(r[features.TRACK_ID])
            segments[tid].append((int(r[features.SEGMENT_INDEX]), int(r[features.NUM_SEGMENTS])))
            split_of[tid].add(split)
    # 2.5 s tone tracks -> two 1 s segments each; the 25 s drum-and-bass fixture -> 25 segments.
    assert sorted(segments[1000]) == [(0, 2), (1, 2)]
    assert len(segments[990001]) == 25
    # The 2 s FMA excerpt is 2.0 s minus codec delay: it may give 1 or 2 segments, never 0.
    assert 1 <= len(segments[990002]) <= 2
    assert all(len(s) == 1 for s in split_of.values())


def test_waveform_matches_direct_decoding(segmented_run):
    config, examples, _ = segmented_run
    (record,) = [
        r
        for r in _read_split(examples, "train")
        if int(r[features.TRACK_ID]) == 990001 and int(r[features.SEGMENT_INDEX]) == 3
    ]
    clip = audio.decode(factories.DRUM_BASS.read_bytes(), str(factories.DRUM_BASS), config.audio)
    expected = clip.samples[3 * 22050 : 4 * 22050]
    got = features.decode_waveform(record[features.AUDIO]).numpy()
    assert np.max(np.abs(got - expected)) <= 1.0 / 32767 + 1e-6
    assert record[features.SOURCE_FORMAT].numpy() == b"OGG"
    assert int(record[features.SOURCE_CHANNELS]) == 1 and int(record[features.SOURCE_SAMPLE_RATE]) == 22050
    assert float(record[features.DURATION_SECONDS]) == pytest.approx(25.0, abs=0.05)


def test_quarantine_lists_every_broken_input_and_counts_reconcile(segmented_run):
    config, examples, expected = segmented_run
    with open(os.path.join(examples.uri, executor.QUARANTINE_FILE), encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    audio_root = os.path.dirname(lines[0]["path"])
    while not audio_root.endswith("fma_small"):
        audio_root = os.path.dirname(audio_root)
    got = {os.path.relpath(line["path"], audio_root): line["reason"] for line in lines}
    assert got == expected
    assert all(line["detail"] for line in lines)
    with open(os.path.join(examples.uri, executor.SUMMARY_FILE), encoding="utf-8") as f:
        summary = json.load(f)
    counts = summary["counts"]
    assert summary["reconciles"] is True
    # Against what is on disk: the inputs the test wrote, and the records in the written files.
    assert counts["files_seen"] == _inputs_on_disk(config.audio_root, config.metadata_dir)
    assert counts["files_quarantined"] == len(expected)
    with_examples = set().union(*(_track_ids(examples, s) for s in ("train", "eval", "test")))
    assert counts["files_with_examples"] == len(with_examples) == 24 + 2 + 3
    assert counts["files_seen"] == len(with_examples) + len(expected)
    assert counts["examples"] == sum(len(_read_split(examples, s)) for s in ("train", "eval", "test"))
    assert examples.get_int_custom_property("files_quarantined") == len(expected)
    assert summary["input_fingerprint"] == "abc"
    assert summary["groups_in_several_splits"] == []
    # The two copies of one recording, and the copy of it that add_broken_and_real_files makes.
    (duplicates,) = summary["duplicate_audio"]
    assert [os.path.basename(p) for p in duplicates["paths"]] == ["001500.ogg", "001501.ogg", "990003.ogg"]
    assert duplicates["across_splits"] and duplicates["splits"] == ["eval", "test", "train"]


def test_examples_written_are_counted_in_the_files_per_split(segmented_run):
    _, examples, expected = segmented_run
    with open(os.path.join(examples.uri, executor.SUMMARY_FILE), encoding="utf-8") as f:
        summary = json.load(f)
    on_disk = {split: len(_read_split(examples, split)) for split in ("train", "eval", "test")}
    assert summary["examples_written"] == on_disk == summary["examples_per_split"]
    # Files per split: the 3 tone tracks of each genre are one per split; the duplicate recording is in
    # train and test; the broken inputs rejected by name or metadata have no split.
    files = summary["files_per_split"]
    for split in ("train", "eval", "test"):
        assert files[split]["with_examples"] == len(_track_ids(examples, split)), split
    assert sum(f["quarantined"] for f in files.values()) == len(expected)
    assert files["eval"]["with_examples"] >= 8 and files["unassigned"]["with_examples"] == 0


def test_records_lost_between_the_workers_and_the_files_fail_the_run(tmp_path, monkeypatch):
    """The workers report more examples than the written files hold (a sink that loses records):
    AudioExampleGen fails, naming both figures, instead of recording what the workers believed."""
    from components import ledger

    counted = ledger.count_written
    monkeypatch.setattr(
        ledger, "count_written", lambda uri, splits: {s: n - (s == "eval") for s, n in counted(uri, splits).items()}
    )
    with pytest.raises(
        ledger.LedgerMismatch,
        match=r"AudioExampleGen, split 'eval': wrote \(counted in .*\) \d+ "
        r"examples, but AudioExampleGen's decoding workers .* \(1 missing\)",
    ):
        _run_executor(tmp_path, ["audio.segment_seconds=1.0"])


def test_whole_clip_mode_pads_to_thirty_seconds(tmp_path):
    config, examples, _ = _run_executor(tmp_path, ["audio.segment_seconds=null"])
    records = _read_split(examples, "test")
    by_track = {int(r[features.TRACK_ID]): r for r in records}
    excerpt = by_track[990002]  # 2 s FMA excerpt in the test split
    assert features.decode_waveform(excerpt[features.AUDIO]).shape == (30 * 22050,)
    assert float(excerpt[features.PADDED_SECONDS]) == pytest.approx(28.0, abs=0.05)
    assert int(excerpt[features.NUM_SEGMENTS]) == 1


def test_empty_split_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="received no examples"):
        # Only 1% eval: the 8 eval tracks (hash-split) very likely all land elsewhere. Force it by salt.
        _run_executor(
            tmp_path, ["split.method=hash", "split.train_percent=98", "split.eval_percent=1", "split.salt=empty-eval-0"]
        )
