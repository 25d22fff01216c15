"""What each component receives, from the pipeline configuration.

The components own their settings types (components/<component>/settings.py) and know nothing of
`PipelineConfig`; this module is where the pipeline's configuration becomes each component's settings, so
each component's execution properties (its cache key) hold what it reads and nothing else.
"""

from __future__ import annotations

from components.audio_example_gen.settings import IngestSettings
from components.blessing_evaluator.policy import BlessingPolicy
from components.featurizer import IMAGE_OUTPUT, LOG_MEL_OUTPUT, SpectrogramSettings
from components.keras_trainer.settings import TrainerSettings
from components.run_reporter.collect import ALGORITHM_NAMES
from components.run_reporter.settings import ReportSettings
from components.settings_base import TFRecordOutput
from components.sklearn_baseline_trainer.settings import BaselineSettings
from components.spectrogram_transform.settings import TransformSettings
from pipeline.config import PipelineConfig


def ingest_settings(config: PipelineConfig) -> IngestSettings:
    """AudioExampleGen's: where the audio and labels are, the genres, and the audio, split and output settings."""
    return IngestSettings(
        layout=config.dataset.layout,
        audio_root=config.audio_root,
        metadata_dir=config.metadata_dir,
        subset=config.dataset.subset,
        genres=config.genres,
        audio=config.audio,
        split=config.split,
        example_gen=config.example_gen,
    )


def spectrogram_settings(config: PipelineConfig) -> SpectrogramSettings:
    """The featurizer's: transform.spectrogram on the examples' sample rate and length (audio.*), the spectral
    output the Keras family reads (log-mel or image), and transform.musicnn when a configured model reads the
    musicnn embedding (only then: it costs ~20 ms per 3 s example, and its settings stay out of the
    transform's cache key otherwise)."""
    musicnn = config.transform.musicnn if reads_musicnn(config) else None
    spectra = _SPECTRUM_READ.get(config.trainer.model_family, ())
    if not spectra and musicnn is None:
        spectra = (LOG_MEL_OUTPUT,)  # cnn1d_raw reads the waveform; the graph needs an output, this is the cheapest
    return SpectrogramSettings.of(
        config.transform.spectrogram, config.audio.sample_rate, config.audio.example_samples, musicnn, spectra
    )


# The featurizer output each Keras family reads (the others read the waveform or the musicnn embedding).
_SPECTRUM_READ = {"cnn2d_mel": (LOG_MEL_OUTPUT,), "mobilenetv2_transfer": (IMAGE_OUTPUT,)}


def reads_musicnn(config: PipelineConfig) -> bool:
    """Whether the Keras model family or the baselines read the musicnn embedding."""
    baselines = config.baselines
    baselines_read_it = baselines.enabled and baselines.feature_set == "musicnn"
    return config.trainer.model_family == "musicnn_transfer" or baselines_read_it


def reads_engineered(config: PipelineConfig) -> bool:
    """Whether the baselines read the engineered features (nothing else does)."""
    return config.baselines.enabled and config.baselines.feature_set == "engineered"


def waveform_splits(config: PipelineConfig):
    """The splits whose transformed examples keep the waveform: every split (None) when the Trainer reads it
    (cnn1d_raw, or musicnn fine-tuning, which runs the network every step), else only the Evaluator's, whose
    served model takes raw audio."""
    trainer = config.trainer
    fine_tunes = trainer.model_family == "musicnn_transfer" and trainer.musicnn.fine_tune_epochs > 0
    if trainer.model_family == "cnn1d_raw" or fine_tunes:
        return None
    return (config.evaluator.example_split,)


def transform_settings(config: PipelineConfig) -> TransformSettings:
    """SpectrogramTransform's: the featurizer, transform.*, the genres, and the output (example_gen's shards and
    progress interval, transform's GZIP settings)."""
    transform = config.transform
    return TransformSettings(
        featurizer=spectrogram_settings(config),
        engineered_preset=transform.engineered_preset,
        engineered=reads_engineered(config),
        waveform_splits=waveform_splits(config),
        batch_size=transform.batch_size,
        min_seconds=transform.min_seconds,
        genres=config.genres,
        output=TFRecordOutput(
            **{
                **config.example_gen.model_dump(),
                "compression_engine": transform.compression_engine,
                "compression_level": transform.compression_level,
            }
        ),
    )


def trainer_settings(config: PipelineConfig) -> TrainerSettings:
    """The Keras trainer's run_fn's: trainer.*, the genres and the featurizer settings the config gives."""
    return TrainerSettings(trainer=config.trainer, genres=config.genres, featurizer=spectrogram_settings(config))


def baseline_settings(config: PipelineConfig) -> BaselineSettings:
    """SklearnBaselineTrainer's: baselines.* and the genres."""
    return BaselineSettings(genres=config.genres, baselines=config.baselines)


def blessing_policy(config: PipelineConfig, target: str) -> BlessingPolicy:
    """The Evaluator's blessing rules on `target` ("local", "kubeflow", "vertex")."""
    return BlessingPolicy.for_target(config.evaluator, target, config.push_destination, config.genres)


def eval_config(config: PipelineConfig):
    """The Evaluator's TFMA EvalConfig (imports TFMA)."""
    from components.blessing_evaluator.eval_config import build_eval_config

    return build_eval_config(len(config.genres), config.evaluator)


def report_settings(config: PipelineConfig) -> ReportSettings:
    """The RunReporter's (and the local report's): the genres, what the settings table says, and the few
    settings the report's sections read."""
    dataset = (
        f"built-in demo data ({config.resolve(config.demo.root)})"
        if config.dataset.uses_demo
        else f"{config.audio_root} ({config.dataset.layout} layout, subset {config.dataset.subset})"
    )
    b, e, t = config.baselines, config.evaluator, config.trainer
    rows = [
        ("Dataset", dataset),
        ("Genres", f"{len(config.genres)}: {', '.join(config.genres)}"),
        ("Audio", f"{config.audio.sample_rate} Hz mono, {config.audio.example_seconds:g} s examples"),
        (
            "Split",
            f"{config.split.method} (hashed splits: train/eval/test {config.split.train_percent}/"
            f"{config.split.eval_percent}/{config.split.test_percent} %)",
        ),
        (
            "Keras model",
            f"{t.model_family}, up to {t.epochs} epochs, batch {t.batch_size}, learning rate {t.learning_rate:g}",
        ),
        ("Baselines", ", ".join(ALGORITHM_NAMES.get(a, a) for a in b.algorithms) if b.enabled else "disabled"),
        (
            "Blessing policy",
            f"on the {e.example_split} split: accuracy >= {e.accuracy_floor:g}, at most "
            f"{e.max_accuracy_drop:g} below the last blessed model, >= best baseline + {e.baseline_margin:g}",
        ),
        ("Push destination", config.push_destination),
        ("Pipeline root", config.pipeline_root),
        ("MLMD database", config.metadata_path),
    ]
    return ReportSettings(
        pipeline_name=config.pipeline_name,
        genres=list(config.genres),
        settings_rows=rows,
        baselines_enabled=b.enabled,
        model_family=t.model_family,
        accuracy_floor=e.accuracy_floor,
        push_destination=config.push_destination,
    )
