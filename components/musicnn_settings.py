"""What a configuration says about the pretrained musicnn embedding, without TensorFlow: which checkpoint and
layer (MusicnnFeatures, part of the featurizer's settings), musicnn's front-end parameters, its outputs' sizes,
and the shortest example it can embed. components/musicnn.py builds the network and front end from these.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.resampling import rate_ratio
from components.settings_base import Section


class MusicnnFeatures(Section):
    """The pretrained musicnn embedding the featurizer adds to its outputs (components/musicnn.py): which
    checkpoint of the musicnn wheel, and which of its layers (averaged over the 3 s patches of an example)."""

    model: Literal["MSD_musicnn", "MTT_musicnn"] = Field(
        "MSD_musicnn", description="MSD_musicnn: trained on Million Song Dataset tags; MTT_musicnn: on MagnaTagATune."
    )
    embedding: Literal["mean_pool", "max_pool", "penultimate", "taggram"] = Field(
        "mean_pool", description="mean_pool/max_pool: 753 values; penultimate: 200; taggram: the 50 tag probabilities."
    )

    @property
    def size(self) -> int:
        return MUSICNN_OUTPUT_SIZES[self.embedding]


# musicnn's front end as its reference extractor computes it (components/musicnn.py builds it from these):
# 16 kHz, 512-point FFT, hop 256, 96 mel bands, patches of 187 frames (3 s); and its outputs' sizes.
MUSICNN_SAMPLE_RATE, MUSICNN_N_FFT, MUSICNN_HOP_LENGTH, MUSICNN_N_MELS, MUSICNN_PATCH_FRAMES = 16000, 512, 256, 96, 187
MUSICNN_OUTPUT_SIZES = {"mean_pool": 753, "max_pool": 753, "penultimate": 200, "taggram": 50}


def musicnn_min_samples(sample_rate: int) -> int:
    """The shortest waveform at sample_rate that yields one musicnn patch (187 frames: 186 hops at 16 kHz)."""
    up, down = rate_ratio(sample_rate, MUSICNN_SAMPLE_RATE)
    # The smallest n with ceil(n * up / down) >= 186 * 256.
    return ((MUSICNN_PATCH_FRAMES - 1) * MUSICNN_HOP_LENGTH - 1) * down // up + 1
