"""Predict a whole track: cut it into the model's segments exactly as AudioExampleGen cuts clips
(`components/audio_example_gen/audio.py: segment`), run the served model's serving_default on every
segment, and average the segments' probabilities (the mean of calibrated per-segment posteriors; a track
is called for the genre most of its time sounds like).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from components.audio_example_gen.audio import segment, to_mono
from components.keras_trainer.serving import GENRE, PROBABILITIES, SERVING_DEFAULT, WAVEFORM_INPUT, read_serving_info
from pipeline.config import AudioConfig


@dataclasses.dataclass(frozen=True)
class TrackPrediction:
    probabilities: np.ndarray  # [genres], the mean over segments
    genre: str
    segment_probabilities: np.ndarray  # [segments, genres]
    segment_genres: list[str]


def segment_config(sample_rate: int, num_samples: int) -> AudioConfig:
    """The AudioConfig whose segments are the model's input length."""
    config = AudioConfig(sample_rate=sample_rate, segment_seconds=num_samples / sample_rate)
    if config.example_samples != num_samples:  # float rounding; impossible for sane rates, checked anyway
        raise ValueError(f"cannot express {num_samples} samples at {sample_rate} Hz as a segment length")
    return config


def predict_track(loaded_model, waveform: np.ndarray, batch_size: int = 32,
                  info: Optional[dict] = None) -> TrackPrediction:
    """Genre of a whole track. `waveform`: float samples at the model's sample rate (mono [n] or
    [n, channels], downmixed like AudioExampleGen), any length; a track shorter than one segment is
    zero-padded into one segment, as AudioExampleGen pads short clips."""
    info = info or read_serving_info(loaded_model)
    settings = info["featurizer_settings"]
    samples = np.asarray(waveform, dtype=np.float32)
    if samples.ndim == 2:
        samples = to_mono(samples)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"expected a non-empty mono [samples] or [samples, channels] waveform, got shape "
                         f"{np.shape(waveform)}")
    if not np.all(np.isfinite(samples)):
        raise ValueError("the waveform contains NaN or Inf")
    segments = np.stack(segment(samples, segment_config(settings["sample_rate"], settings["num_samples"])))
    serve = loaded_model.signatures[SERVING_DEFAULT]
    probabilities, genres = [], []
    for start in range(0, len(segments), batch_size):
        outputs = serve(**{WAVEFORM_INPUT: segments[start:start + batch_size]})
        probabilities.append(outputs[PROBABILITIES].numpy())
        genres.extend(g.decode("utf-8") for g in outputs[GENRE].numpy())
    per_segment = np.concatenate(probabilities)
    mean = per_segment.mean(axis=0)
    return TrackPrediction(mean, info["genres"][int(np.argmax(mean))], per_segment, genres)
