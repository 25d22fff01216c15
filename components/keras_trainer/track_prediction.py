"""Predict a whole track: cut it into the model's segments exactly as AudioExampleGen cuts clips
(`components/waveform.py`: iter_segments, which cuts as segment does), run the served
model's serving_default on every segment, and average the segments' probabilities (the mean of calibrated
per-segment posteriors; a track is called for the genre most of its time sounds like). `predict_segments`
takes the segments as they come (waveform.iter_segments over audio.DecodeStream) and keeps a running sum:
memory is one batch whatever the track's length.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Optional

import numpy as np

from components.formats.serving import GENRE, PROBABILITIES, SERVING_DEFAULT, WAVEFORM_INPUT, read_serving_info
from components.waveform import SegmentLength, iter_segments, to_mono


@dataclasses.dataclass(frozen=True)
class TrackPrediction:
    probabilities: np.ndarray  # [genres], the mean over segments
    genre: str
    segment_probabilities: Optional[np.ndarray]  # [segments, genres]; None unless kept (keep_segments)
    segment_genres: Optional[list[str]]
    num_segments: int = 0


def segment_config(sample_rate: int, num_samples: int) -> SegmentLength:
    """How to cut audio into the model's input: segments of num_samples (as AudioExampleGen's AudioConfig
    cuts them in segment mode)."""
    return SegmentLength(sample_rate, num_samples)


def predict_track(
    loaded_model, waveform: np.ndarray, batch_size: int = 32, info: Optional[dict] = None
) -> TrackPrediction:
    """Genre of a whole track. `waveform`: float samples at the model's sample rate (mono [n] or
    [n, channels], downmixed like AudioExampleGen), any length; a track shorter than one segment is
    zero-padded into one segment, as AudioExampleGen pads short clips."""
    info = info or read_serving_info(loaded_model)
    settings = info["featurizer_settings"]
    samples = np.asarray(waveform, dtype=np.float32)
    if samples.ndim == 2:
        samples = to_mono(samples)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(
            f"expected a non-empty mono [samples] or [samples, channels] waveform, got shape {np.shape(waveform)}"
        )
    if not np.all(np.isfinite(samples)):
        raise ValueError("the waveform contains NaN or Inf")
    segments = iter_segments([samples], segment_config(settings["sample_rate"], settings["num_samples"]))
    return predict_segments(loaded_model, segments, batch_size=batch_size, info=info)


def predict_segments(
    loaded_model,
    segments: Iterable[np.ndarray],
    batch_size: int = 32,
    info: Optional[dict] = None,
    keep_segments: bool = True,
) -> TrackPrediction:
    """Genre of a track given as its segments (each the model's num_samples long, e.g. from
    waveform.iter_segments), consumed batch by batch: the mean comes from a running sum, and the per-segment
    outputs are kept only with keep_segments, so memory does not grow with the track."""
    info = info or read_serving_info(loaded_model)
    serve = loaded_model.signatures[SERVING_DEFAULT]
    total, count, probabilities, genres = None, 0, [], []

    def run(batch):
        nonlocal total, count
        outputs = serve(**{WAVEFORM_INPUT: np.stack(batch)})
        batch_probabilities = outputs[PROBABILITIES].numpy()
        total = batch_probabilities.sum(axis=0, dtype=np.float64) + (0.0 if total is None else total)
        count += len(batch_probabilities)
        if keep_segments:
            probabilities.append(batch_probabilities)
            genres.extend(g.decode("utf-8") for g in outputs[GENRE].numpy())

    batch = []
    for piece in segments:
        batch.append(piece)
        if len(batch) == batch_size:
            run(batch)
            batch = []
    if batch:
        run(batch)
    if count == 0:
        raise ValueError("no segments to predict")
    mean = (total / count).astype(np.float32)
    return TrackPrediction(
        mean,
        info["genres"][int(np.argmax(mean))],
        np.concatenate(probabilities) if keep_segments else None,
        genres if keep_segments else None,
        count,
    )
