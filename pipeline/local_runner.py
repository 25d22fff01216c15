"""Runs the pipeline on this machine: LocalDagRunner, SQLite MLMD and the Beam DirectRunner. The run is recorded
in MLMD and read back by pipeline/runs.py."""

from __future__ import annotations

import datetime
import logging
import os

from tfx import v1 as tfx

from components import beam_data_plane
from pipeline import runs
from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline

_log = logging.getLogger(__name__)


def prepare_dataset(config: PipelineConfig) -> None:
    """Make the built-in demo data when no dataset is configured; check a configured one exists."""
    if config.dataset.uses_demo:
        from pipeline.datasets.demo import ensure_demo_dataset

        ensure_demo_dataset(config.demo, config.genres, config.resolve(config.demo.root))
    elif "://" not in config.audio_root and not os.path.isdir(config.audio_root):
        raise FileNotFoundError(
            f"dataset.audio_root {config.audio_root} does not exist. Run `make download-fma` for FMA, or leave "
            "dataset.audio_root empty to use the built-in demo data."
        )


def run(config: PipelineConfig) -> runs.RunOutputs:
    """Run the whole pipeline; returns the outputs of this run (not of a concurrent or earlier one).

    The run id is chosen here (as LocalDagRunner would: the start time) so that this process can record itself
    on the run's MLMD context first: a later run or `make outputs` then tells a live run from a killed one."""
    from tfx.dsl.compiler import constants
    from tfx.orchestration.portable import runtime_parameter_utils, tfx_runner

    prepare_dataset(config)
    # Every component runs in this process, TFX's StatisticsGen and TFMA's Beam graphs too.
    beam_data_plane.install()
    os.makedirs(os.path.dirname(config.metadata_path), exist_ok=True)
    pipeline = create_pipeline(
        config,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
        beam_pipeline_args=config.beam.pipeline_args(),
    )
    ir = tfx_runner._make_pipeline_proto(pipeline)  # what LocalDagRunner.run does before run_with_ir
    run_id = datetime.datetime.now().isoformat()
    # run_with_ir substitutes only what is still a runtime parameter: our id stays.
    runtime_parameter_utils.substitute_runtime_parameter(ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    nodes = [n.pipeline_node.node_info.id for n in ir.nodes if not n.pipeline_node.execution_options.HasField("skip")]
    pipeline_root = ir.runtime_spec.pipeline_root.field_value.string_value or config.pipeline_root
    for marked in runs.mark_abandoned_runs(config):
        _log.warning("run %s was interrupted (its runner is gone): %s", marked.run_id, marked.detail)
    runs.begin_run(config, run_id, nodes, pipeline_root)
    outcome = "interrupted"
    try:
        tfx.orchestration.LocalDagRunner().run_with_ir(ir)
        outcome = "complete"
    except Exception:
        outcome = "failed"
        raise
    finally:  # KeyboardInterrupt too: the run is closed as interrupted and its partial outputs removed at once
        try:
            runs.end_run(config, run_id, outcome)
        except Exception as e:
            _log.warning("could not record the end (%s) of run %s in MLMD: %s", outcome, run_id, e)
    return runs.latest_outputs(config, run_id=run_id)
