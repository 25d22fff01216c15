import json
import os

import pytest
import tensorflow as tf
from tensorflow_data_validation import load_stats_binary
from tfx.components.statistics_gen import executor as statistics_gen_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as keys

from components import statistics_executor
from components.ledger import LedgerMismatch

SPLITS = {"train": 12, "eval": 3}


def _examples(root: str, recorded: dict) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri, examples.split_names = root, artifact_utils.encode_split_names(list(SPLITS))
    for split, n in SPLITS.items():
        os.makedirs(os.path.join(root, f"Split-{split}"))
        with tf.io.TFRecordWriter(os.path.join(root, f"Split-{split}", "data.gz"), "GZIP") as writer:
            for i in range(n):
                feature = {"label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 4]))}
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    with open(os.path.join(root, "summary.json"), "w") as f:
        json.dump({"examples_written": recorded}, f)
    return examples


def _run(tmp_path, recorded: dict, executor=None):
    examples = _examples(str(tmp_path / "examples"), recorded)
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(tmp_path / "statistics")
    (executor or statistics_executor.Executor()).Do(
        {keys.EXAMPLES_KEY: [examples]}, {keys.STATISTICS_KEY: [statistics]}, {keys.EXCLUDE_SPLITS_KEY: "[]"}
    )
    return examples, statistics


def test_profiled_examples_balance_against_the_record(tmp_path):
    examples, statistics = _run(tmp_path, dict(SPLITS))
    rows = statistics_executor.check_profiled(examples.uri, statistics)
    assert [(r["split"], r["counted"], r["expected"], r["balanced"]) for r in rows] == [
        ("train", 12, 12, True),
        ("eval", 3, 3, True),
    ]


def test_statistics_over_fewer_examples_than_recorded_fail(tmp_path):
    with pytest.raises(
        LedgerMismatch,
        match=r"StatisticsGen, split 'train': profiled 12 examples, but "
        r"AudioExampleGen .* recorded 13 \(1 missing\)",
    ):
        _run(tmp_path, {**SPLITS, "train": 13})


def _statistics(statistics, split: str):
    return load_stats_binary(
        os.path.join(artifact_utils.get_split_uri([statistics], split), statistics_gen_executor.DEFAULT_FILE_NAME)
    )


def test_progress_counts_every_example_of_each_split(tmp_path, capsys):
    _run(tmp_path, dict(SPLITS))
    bar = capsys.readouterr().err
    # The bar's last state: all examples counted by the pass-through step, per split, against the record.
    assert "StatisticsGen: 100%" in bar and "15/15" in bar and "train 12/12, eval 3/3" in bar


def test_progress_leaves_the_statistics_unchanged(tmp_path):
    ours = _run(tmp_path / "ours", dict(SPLITS))[1]
    theirs = _run(tmp_path / "tfx", dict(SPLITS), statistics_gen_executor.Executor())[1]
    for split, n in SPLITS.items():
        assert _statistics(ours, split).datasets[0].num_examples == n
        assert _statistics(ours, split) == _statistics(theirs, split)
