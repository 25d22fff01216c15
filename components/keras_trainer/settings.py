"""The Keras trainer's settings: the `trainer` section of the pipeline configuration (with its defaults), and
TrainerSettings, exactly what run_fn reads, carried in the standard Trainer's custom_config.

Only what run_fn reads goes into the Trainer's custom_config, so the Trainer's cache key changes when, and
only when, something that changes training changes: a blessing threshold, the baselines, the demo data's
generation settings (the data itself reaches the Trainer as its input artifacts), the output root or a
deployment setting leave a trained model cached.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from components.featurizer import SpectrogramSettings
from components.settings_base import Section

# The key of the standard Trainer's custom_config that holds TrainerSettings (as JSON-compatible data).
CUSTOM_CONFIG_KEY = "trainer_settings"


class Cnn1dConfig(Section):
    downsample: int = Field(4, ge=1, description="Average-pool the waveform by this factor before the first Conv1D.")
    pool_size: int = Field(4, ge=2)


class MobileNetConfig(Section):
    weights: Literal["imagenet", "random"] = Field(
        "imagenet", description="imagenet falls back to random initialisation (logged) when the weights cannot be had."
    )
    head_units: int = Field(128, ge=8)
    dropout: float = Field(0.3, ge=0, lt=1)
    fine_tune_epochs: int = Field(
        0, ge=0, description="Epochs with the top of the base unfrozen after the head is trained."
    )
    fine_tune_layers: int = Field(30, ge=1, description="How many of the base's last layers are unfrozen.")
    fine_tune_learning_rate: float = Field(1e-5, gt=0)


class MusicnnHeadConfig(Section):
    """musicnn_transfer: the head trained on the frozen musicnn embedding (transform.musicnn chooses the
    checkpoint and the layer), and the optional fine-tuning of the top of the network."""

    head_units: int = Field(128, ge=8)
    dropout: float = Field(0.3, ge=0, lt=1)
    fine_tune_epochs: int = Field(
        0,
        ge=0,
        description="Epochs with the top of musicnn unfrozen after the head is trained (reads the waveform and "
        "runs the network every step: ~21 ms per 3 s example on 2 CPU cores, against ~0.1 ms for the head).",
    )
    fine_tune_layers: int = Field(1, ge=1, le=3, description="How many of musicnn's 3 mid-end blocks are unfrozen.")
    fine_tune_learning_rate: float = Field(1e-5, gt=0)


class TrainerConfig(Section):
    """The Keras model trained by the standard TFX Trainer (run_fn: components.keras_trainer.trainer.run_fn)."""

    model_family: Literal["cnn1d_raw", "cnn2d_mel", "mobilenetv2_transfer", "musicnn_transfer"] = Field(
        "musicnn_transfer",
        description="musicnn_transfer (default): a head on the pretrained musicnn embedding; cnn2d_mel, cnn1d_raw: "
        "trained from scratch; mobilenetv2_transfer: ImageNet MobileNetV2 on the mel image.",
    )
    epochs: int = Field(40, ge=1)
    batch_size: int = Field(32, ge=1, description="Per replica; the global batch scales with the replicas.")
    learning_rate: float = Field(1e-3, gt=0)
    early_stopping_patience: int = Field(8, ge=1, description="Epochs without eval-loss improvement before stopping.")
    steps_per_epoch: Optional[int] = Field(None, ge=1, description="None = one pass over the train split.")
    shuffle_buffer: int = Field(4096, ge=1)
    cache_megabytes: float = Field(
        4096.0, ge=0, description="Cache the parsed train split in memory when it is smaller than this."
    )
    seed: int = 0
    cnn1d: Cnn1dConfig = Field(default_factory=Cnn1dConfig)
    mobilenet: MobileNetConfig = Field(default_factory=MobileNetConfig)
    musicnn: MusicnnHeadConfig = Field(default_factory=MusicnnHeadConfig)


class TrainerSettings(BaseModel):
    """Exactly what run_fn reads.

    - trainer: the hyper-parameters (model family and its options, epochs, batch, learning rate, early
      stopping, steps, shuffle buffer, cache budget, seed).
    - genres: the label vocabulary (the softmax's size, the served `genre` names, the metrics' order).
    - featurizer: the spectrogram settings (with the sample rate and example length from the audio
      settings) the configuration gives. run_fn uses the featurizer SpectrogramTransform exported (its
      transform_graph input, which made the examples) and only warns when it differs from these.

    Built from the pipeline configuration by pipeline/component_settings.py (trainer_settings).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    trainer: TrainerConfig
    genres: tuple[str, ...]
    featurizer: SpectrogramSettings

    def to_custom_config(self) -> dict[str, Any]:
        """The standard Trainer's custom_config holding these settings."""
        return {CUSTOM_CONFIG_KEY: self.model_dump(mode="json")}

    @classmethod
    def from_custom_config(cls, custom_config: Any) -> TrainerSettings:
        if not isinstance(custom_config, dict) or CUSTOM_CONFIG_KEY not in custom_config:
            raise ValueError(
                f"the Trainer's custom_config must be "
                f"{{{CUSTOM_CONFIG_KEY!r}: TrainerSettings.model_dump(mode='json')}}"
                f", got keys {sorted(custom_config) if isinstance(custom_config, dict) else custom_config!r}"
            )
        return cls.model_validate(custom_config[CUSTOM_CONFIG_KEY])
