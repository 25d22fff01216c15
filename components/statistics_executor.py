"""TFX's StatisticsGen executor, with Beam's data-plane fix installed first (components/beam_data_plane.py),
a progress bar over the examples of each split, and the examples it profiled checked against what
AudioExampleGen recorded writing (components/ledger.py).

A Kubeflow or Vertex container runs the executor class its spec names and nothing else of this project,
so the fix has to come with the class. The statistics themselves are TFX's, unchanged: the progress comes
from a pass-through step before each split's tfdv.GenerateStatistics (components/progress.py, count_inputs).
"""

from __future__ import annotations

import os
import re
from typing import Optional

import tensorflow_data_validation as tfdv
from tfx.components.statistics_gen import executor as statistics_gen_executor
from tfx.types import artifact_utils
from tfx.types import standard_component_specs as keys
from tfx.utils import json_utils

from components import beam_data_plane, ledger, progress


class Executor(statistics_gen_executor.Executor):
    _progress_dir: Optional[str] = None  # set while Do runs

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        beam_data_plane.install()
        examples = artifact_utils.get_single_instance(input_dict[keys.EXAMPLES_KEY])
        with progress.monitored("StatisticsGen", profiled_totals(examples, exec_properties)) as directory:
            self._progress_dir = directory
            try:
                super().Do(input_dict, output_dict, exec_properties)
            finally:
                self._progress_dir = None
        statistics = artifact_utils.get_single_instance(output_dict[keys.STATISTICS_KEY])
        check_profiled(examples.uri, statistics)

    def _make_beam_pipeline(self):
        pipeline = super()._make_beam_pipeline()
        if self._progress_dir:
            progress.count_inputs(pipeline, statistics_split, self._progress_dir)
        return pipeline


def statistics_split(transform, label: str) -> Optional[str]:
    """The split a GenerateStatistics step profiles (TFX labels it `GenerateStatistics[<split>]`); None for
    any other step."""
    if not isinstance(transform, tfdv.GenerateStatistics):
        return None
    match = re.fullmatch(r"GenerateStatistics\[(.+)\]", label)
    return match.group(1) if match else label


def profiled_totals(examples, exec_properties: dict) -> dict[str, Optional[int]]:
    """{split: examples AudioExampleGen recorded writing (None when it recorded none)} for the splits
    StatisticsGen profiles: the totals of the progress bar."""
    excluded = json_utils.loads(exec_properties.get(keys.EXCLUDE_SPLITS_KEY) or "null") or []
    recorded = ledger.recorded_examples(examples.uri) or {}
    splits = [s for s in artifact_utils.decode_split_names(examples.split_names) if s not in excluded]
    return {split: recorded.get(split) for split in splits}


def check_profiled(examples_uri: str, statistics) -> list[dict]:
    """Examples each split's statistics describe against what the Examples' producer recorded writing."""
    from tensorflow_data_validation import load_stats_binary

    counts = {}
    for split in artifact_utils.decode_split_names(statistics.split_names):
        path = os.path.join(
            artifact_utils.get_split_uri([statistics], split), statistics_gen_executor.DEFAULT_FILE_NAME
        )
        counts[split] = ("profiled", int(load_stats_binary(path).datasets[0].num_examples))
    return ledger.check(ledger.against_record("StatisticsGen", examples_uri, "AudioExampleGen", counts, statistics.uri))
