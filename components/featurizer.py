"""The log-mel featurizer: the one place where a waveform becomes a spectrogram and its image form.

It is TensorFlow ops only (`tf.signal.stft`, a mel weight matrix, a floored log), so the same graph runs
in SpectrogramTransform (to write the training examples) and inside the served model (which takes raw
audio). SpectrogramTransform exports it as a SavedModel, the Trainer loads that SavedModel and embeds it
in the serving signature; nothing re-implements these maths.

Conventions follow librosa so results can be compared with it (`featurizer_test.py` states the
tolerance): centred frames (the signal is zero-padded by n_fft // 2 on both sides), a periodic Hann
window, power spectrum, mel filters on the Slaney or HTK scale with Slaney area normalisation, and
decibels `10 * log10(max(mel_power, log_floor))` (librosa's `power_to_db(ref=1, amin=log_floor,
top_db=None)`). Measured on 384 three-second examples of real music: within 0.0003 dB of librosa above
-40 dB, 0.01 dB above -80 dB, and up to 0.15 dB in the quietest cells (float32 rounding in the STFT).
"""

from __future__ import annotations

import json
import os
from typing import Literal, Optional

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from components import spectrogram
from components.musicnn_settings import MusicnnFeatures, musicnn_min_samples
from components.settings_base import Section
from components.spectrogram import mel_power

SETTINGS_FILE = "featurizer_settings.json"
SAVED_MODEL_DIR = "saved_model"
SIGNATURE = "featurize"
LOG_MEL_OUTPUT = "log_mel"
IMAGE_OUTPUT = "mel_image"
MUSICNN_OUTPUT = "musicnn_embedding"


class SpectrogramConfig(Section):
    """The log-mel spectrogram (TensorFlow ops, one graph for training and serving) and its image form: the
    `transform.spectrogram` section of the pipeline configuration, with its defaults."""

    n_fft: int = Field(2048, ge=16, description="FFT size and window length (samples).")
    hop_length: int = Field(512, ge=1, description="Samples between frames.")
    n_mels: int = Field(128, ge=8)
    fmin: float = Field(0.0, ge=0)
    fmax: Optional[float] = Field(None, gt=0, description="None = Nyquist (sample_rate / 2).")
    mel_scale: Literal["slaney", "htk"] = "slaney"
    log_floor: float = Field(1e-10, gt=0, description="Mel power is floored here before 10*log10 (dB).")
    image_size: int = Field(224, ge=32, description="Side of the square image form (image_size x image_size x 3).")
    image_dynamic_range_db: float = Field(
        80.0, gt=0, description="The image maps [max - range, max] dB of each example onto 0-255."
    )

    @model_validator(mode="after")
    def _hop_fits(self) -> SpectrogramConfig:
        if self.hop_length > self.n_fft:
            raise ValueError("hop_length must not exceed n_fft")
        if self.fmax is not None and self.fmax <= self.fmin:
            raise ValueError("fmax must be above fmin")
        return self


class SpectrogramSettings(SpectrogramConfig):
    """Everything the featurizer graph depends on (frozen into the exported SavedModel): the spectrogram
    settings, the waveform they apply to (sample rate and example length), and the musicnn embedding when a
    configured model reads it (None: the featurizer does not compute it)."""

    model_config = ConfigDict(frozen=True)

    sample_rate: int = Field(ge=1)
    num_samples: int = Field(ge=1)
    # The spectral outputs the graph computes: only those a configured model reads, so a run that trains on
    # the musicnn embedding neither computes nor stores a 66 KB log-mel and a 150 KB image per example.
    spectra: tuple[Literal["log_mel", "mel_image"], ...] = (LOG_MEL_OUTPUT, IMAGE_OUTPUT)
    musicnn: Optional[MusicnnFeatures] = None

    @model_validator(mode="after")
    def _computes_something(self) -> SpectrogramSettings:
        if not self.spectra and self.musicnn is None:
            raise ValueError("the featurizer computes nothing: name a spectral output or set the musicnn embedding")
        return self

    @model_validator(mode="after")
    def _musicnn_gets_a_patch(self) -> SpectrogramSettings:
        needed = musicnn_min_samples(self.sample_rate)
        if self.musicnn is not None and self.num_samples < needed:
            raise ValueError(
                f"the musicnn embedding needs examples of at least {needed} samples at {self.sample_rate} Hz "
                f"({needed / self.sample_rate:.2f} s: one 3 s patch), got {self.num_samples}: set "
                "audio.segment_seconds=3 (or more), or choose a model that does not read the embedding "
                "(trainer.model_family other than musicnn_transfer and baselines.feature_set=engineered)"
            )
        return self

    @classmethod
    def of(
        cls,
        spectrogram: SpectrogramConfig,
        sample_rate: int,
        num_samples: int,
        musicnn: Optional[MusicnnFeatures] = None,
        spectra: tuple[str, ...] = (LOG_MEL_OUTPUT, IMAGE_OUTPUT),
    ) -> SpectrogramSettings:
        return cls(
            sample_rate=sample_rate,
            num_samples=num_samples,
            musicnn=musicnn,
            spectra=spectra,
            **spectrogram.model_dump(),
        )

    def replace(self, **changes) -> SpectrogramSettings:
        """A copy with `changes` applied (validated, unlike model_copy)."""
        return type(self).model_validate({**self.model_dump(), **changes})

    @property
    def upper_frequency(self) -> float:
        return self.fmax if self.fmax is not None else self.sample_rate / 2.0

    @property
    def num_frames(self) -> int:
        """Frames of a centred STFT: 1 + num_samples // hop_length."""
        return 1 + self.num_samples // self.hop_length

    @property
    def log_mel_shape(self) -> tuple[int, int]:
        return (self.num_frames, self.n_mels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, 3)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SpectrogramSettings:
        return cls.model_validate(json.loads(text))


def mel_weight_matrix(settings: SpectrogramSettings) -> np.ndarray:
    """[n_fft // 2 + 1, n_mels] triangular filters, area-normalised (Slaney), float32, for these settings."""
    return spectrogram.mel_filter_bank(
        settings.sample_rate,
        settings.n_fft,
        settings.n_mels,
        settings.fmin,
        settings.upper_frequency,
        settings.mel_scale,
    )


# -- the TensorFlow graph ---------------------------------------------------------------------------------
def _tf():
    import tensorflow as tf  # imported lazily: Beam workers and the CLI import this module's settings

    return tf


def build_featurizer(settings: SpectrogramSettings):
    """A `tf.Module` whose `featurize(waveform)` maps float32 [batch, num_samples] to
    {"log_mel": float32 [batch, frames, n_mels] in dB, "mel_image": uint8 [batch, S, S, 3]} (those named in
    settings.spectra), plus "musicnn_embedding": float32 [batch, size] (the mean over the example's 3 s
    patches) when settings.musicnn is set; its frozen pretrained network is then part of the module and of
    its SavedModel.

    Keep a reference to the returned module while calling it: its tf.function holds the module weakly.
    """
    tf = _tf()
    if settings.musicnn is not None:
        from components import musicnn  # the network and its checkpoint only when configured

    class Featurizer(tf.Module):
        def __init__(self):
            super().__init__(name="log_mel_featurizer")
            self.settings_json = tf.constant(settings.to_json())
            self._mel_matrix = tf.constant(mel_weight_matrix(settings))
            if settings.musicnn is not None:
                self._musicnn = musicnn.build_embedder(
                    settings.sample_rate,
                    settings.num_samples,
                    settings.musicnn.model,
                    outputs=(settings.musicnn.embedding,),
                )

        def log_mel(self, waveform):
            power = mel_power(waveform, self._mel_matrix, settings.n_fft, settings.hop_length)
            return 10.0 * tf.math.log(tf.maximum(power, settings.log_floor)) / tf.math.log(10.0)

        def image(self, log_mel):
            # Each example's loudest cell is white and everything `image_dynamic_range_db` below it is
            # black, so the image does not depend on the recording level; low frequencies at the bottom.
            # The peak is clamped to at least one dynamic range above the floor, so silence is black, not white.
            floor_db = 10.0 * np.log10(settings.log_floor)
            peak = tf.maximum(
                tf.reduce_max(log_mel, axis=[1, 2], keepdims=True), floor_db + settings.image_dynamic_range_db
            )
            scaled = (log_mel - (peak - settings.image_dynamic_range_db)) / settings.image_dynamic_range_db
            scaled = tf.clip_by_value(scaled, 0.0, 1.0)
            picture = tf.reverse(tf.transpose(scaled, [0, 2, 1]), axis=[1])[..., tf.newaxis]
            picture = tf.image.resize(picture, [settings.image_size, settings.image_size], method="bilinear")
            # Quantised in the graph, so the uint8 bytes stored in the examples are exactly what serving sees.
            pixels = tf.cast(tf.round(tf.clip_by_value(picture, 0.0, 1.0) * 255.0), tf.uint8)
            return tf.tile(pixels, [1, 1, 1, 3])

        @tf.function(input_signature=[tf.TensorSpec([None, settings.num_samples], tf.float32, name="waveform")])
        def featurize(self, waveform):
            outputs = {}
            if settings.spectra:
                log_mel = self.log_mel(waveform)
                if LOG_MEL_OUTPUT in settings.spectra:
                    outputs[LOG_MEL_OUTPUT] = log_mel
                if IMAGE_OUTPUT in settings.spectra:
                    outputs[IMAGE_OUTPUT] = self.image(log_mel)
            if settings.musicnn is not None:
                patches = self._musicnn(waveform, training=False)[settings.musicnn.embedding]
                outputs[MUSICNN_OUTPUT] = musicnn.clip_embedding(patches)
            return outputs

    return Featurizer()


def export_featurizer(settings: SpectrogramSettings, directory: str) -> str:
    """Writes the SavedModel (`<directory>/saved_model`) and the settings (JSON); returns the SavedModel path."""
    tf = _tf()
    module = build_featurizer(settings)
    path = os.path.join(directory, SAVED_MODEL_DIR)
    tf.saved_model.save(module, path, signatures={SIGNATURE: module.featurize.get_concrete_function()})
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(os.path.join(directory, SETTINGS_FILE), "w") as f:
        f.write(settings.to_json())
    return path


class LoadedFeaturizer:
    """The exported featurizer: `featurize(waveform)` runs the SavedModel's graph; `settings` describes it.

    `module` is the loaded SavedModel object: attach it to a Keras model or tf.Module that is saved
    again (the serving model) so the graph and its constants travel with it.
    """

    def __init__(self, directory: str):
        tf = _tf()
        settings_path = os.path.join(directory, SETTINGS_FILE)
        saved_model = os.path.join(directory, SAVED_MODEL_DIR)
        if not tf.io.gfile.exists(settings_path) or not tf.io.gfile.exists(saved_model):
            raise FileNotFoundError(
                f"{directory} is not an exported featurizer (expected {SETTINGS_FILE} and {SAVED_MODEL_DIR}/); "
                "it is written by SpectrogramTransform's `featurizer` output"
            )
        with tf.io.gfile.GFile(settings_path) as f:
            self.settings = SpectrogramSettings.from_json(f.read())
        self.module = tf.saved_model.load(saved_model)

    def featurize(self, waveform):
        return self.module.featurize(waveform)


def load_featurizer(directory: str) -> LoadedFeaturizer:
    return LoadedFeaturizer(directory)
