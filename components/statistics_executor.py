"""TFX's StatisticsGen executor, with Beam's data-plane fix installed first (components/beam_data_plane.py)
and the examples it profiled checked against what AudioExampleGen recorded writing (components/ledger.py).

A Kubeflow or Vertex container runs the executor class its spec names and nothing else of this project,
so the fix has to come with the class. The statistics themselves are TFX's, unchanged.
"""

from __future__ import annotations

import os

from tfx.components.statistics_gen import executor as statistics_gen_executor
from tfx.types import artifact_utils
from tfx.types import standard_component_specs as keys

from components import beam_data_plane, ledger


class Executor(statistics_gen_executor.Executor):
    def Do(self, input_dict, output_dict, exec_properties) -> None:
        beam_data_plane.install()
        super().Do(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(input_dict[keys.EXAMPLES_KEY])
        statistics = artifact_utils.get_single_instance(output_dict[keys.STATISTICS_KEY])
        check_profiled(examples.uri, statistics)


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
