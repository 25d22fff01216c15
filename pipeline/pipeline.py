"""`create_pipeline(config)`: the TFX pipeline, knowing nothing about the runner that will execute it."""
from __future__ import annotations

import hashlib
import os
from typing import Optional

import tensorflow_data_validation as tfdv
from tfx import v1 as tfx

from components.audio_example_gen import features
from components.audio_example_gen.component import AudioExampleGen
from components.audio_example_gen.settings import IngestSettings
from components.audio_example_gen.sources import walk_files
from pipeline.config import PipelineConfig


def input_fingerprint(config: PipelineConfig) -> str:
    """Digest of the dataset's file names, sizes and modification times (local datasets only).

    It joins the cache key of AudioExampleGen, so editing the dataset re-runs ingestion. Remote
    (gs://) datasets return "" and rely on versioned paths instead.
    """
    roots = [config.audio_root, config.metadata_dir]
    if any("://" in r for r in roots):
        return ""
    digest = hashlib.sha256()
    for root in roots:
        for path in walk_files(root) if os.path.isdir(root) else []:
            stat = os.stat(path)
            digest.update(f"{os.path.relpath(path, root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def create_components(config: PipelineConfig) -> dict[str, tfx.types.BaseNode]:
    example_gen = AudioExampleGen(IngestSettings.from_pipeline_config(config), input_fingerprint(config))
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"],
        # The waveform and per-clip identifiers are left out: see features.STATISTICS_EXCLUDED.
        stats_options=tfdv.StatsOptions(feature_allowlist=list(features.STATISTICS_FEATURES)),
    )
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    return {
        "AudioExampleGen": example_gen,
        "StatisticsGen": statistics_gen,
        "SchemaGen": schema_gen,
        "ExampleValidator": example_validator,
    }


def create_pipeline(
    config: PipelineConfig,
    metadata_connection_config=None,
    beam_pipeline_args: Optional[list[str]] = None,
) -> tfx.dsl.Pipeline:
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=list(create_components(config).values()),
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args,
    )
