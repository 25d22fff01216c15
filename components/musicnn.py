"""musicnn (Pons & Serra, 2019), pretrained on music tagging, as a tf.keras feature extractor: waveform at the
pipeline's rate in, per-patch embeddings and the 50 tag probabilities out, in one TensorFlow graph.

Weights: the TF1 checkpoints inside the `musicnn` 0.1.0 wheel (locked in requirements/requirements.lock without
its 2019 requirements, see uv.toml). Nothing is downloaded, and the musicnn package is never imported here:
the checkpoint is found with importlib and read with TensorFlow's checkpoint reader.

Front end, as musicnn.extractor computes it (librosa): 16 kHz (resampled in the graph by
components/resampling.py, fitted to soxr HQ, which librosa.load uses), |STFT|^2 with n_fft 512 and hop 256
(centred, zero padded, periodic Hann: components/spectrogram.mel_power, the spectrogram maths the log-mel
featurizer uses too), 96 Slaney mel bands (spectrogram.mel_filter_bank, equal to librosa's filter bank),
log10(1 + 10000 x), then consecutive non-overlapping patches of 187 frames (3 s) from the first frame; a last
partial patch is dropped, as the extractor does (its default input_overlap=False). One difference on purpose:
the extractor rounds the mel power to float16 before the log (how its training data was stored); we keep
float32. The effect is below 2.5e-4 in the log-mel input (see components/musicnn_test.py).

Network (musicnn/models.py, build_musicnn): input batch norm; a front end of timbral convolutions (7 x 38 and
7 x 67 over time x mel, 204 filters each) and temporal ones (128, 64, 32 frames x 1, 51 filters each), each
ReLU + batch norm + max over frequency, concatenated (561 channels); a mid end of three 7-frame convolutions of
64 filters (the second and third residual), densely connected to the front end (753 channels); a back end of
max and mean over time (753 each), batch norm, dense 200 ReLU + batch norm (`penultimate`), dense 50 + sigmoid
(`taggram`). Batch norms always run in inference mode (they keep the checkpoint's statistics, also when the
top is fine-tuned); the training-only dropouts are left out.

Outputs per 3 s patch: `mean_pool` (753), `max_pool` (753), `penultimate` (200), `taggram` (50 tags). The
default embedding is `mean_pool`: with musicnn's extractor, averaged over 110 real 30 s clips of 10 genres,
logistic regression reached 0.84 on it, 0.82 on the tags and max_pool, 0.70 on penultimate (shared/STACK.md).
That extractor (0.1.0, batch size 1) returns the first patch's `penultimate` for every patch, so the 0.70 is
the first 3 s of each clip only; this port returns every patch's own, and the comparison wants redoing.

Parity with the extractor and the cost (components/musicnn_test.py has the details): the network alone is
within float32 round-off (tags 5e-7, mean_pool 3e-6); from the 22.05 kHz waveform, tags within 2.2e-4 and
mean_pool within 2.8e-3 (relative L2 of a clip's mean embedding < 3.2e-4). About 420 ms per 30 s clip on
one CPU core (10 patches; the front end 15 ms of it), 210 ms on two.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
from collections.abc import Sequence
from typing import Optional

import numpy as np
import tensorflow as tf

from components import musicnn_settings, resampling, spectrogram

PACKAGE, PACKAGE_VERSION = "musicnn", "0.1.0"
MODELS = ("MSD_musicnn", "MTT_musicnn")
DEFAULT_MODEL = "MSD_musicnn"
SAMPLE_RATE, N_FFT, HOP_LENGTH, N_MELS = (
    musicnn_settings.MUSICNN_SAMPLE_RATE,
    musicnn_settings.MUSICNN_N_FFT,
    musicnn_settings.MUSICNN_HOP_LENGTH,
    musicnn_settings.MUSICNN_N_MELS,
)
PATCH_FRAMES = musicnn_settings.MUSICNN_PATCH_FRAMES  # musicnn.extractor: time_to_frames(3 s) + 1
OUTPUT_SIZES = musicnn_settings.MUSICNN_OUTPUT_SIZES
OUTPUTS = tuple(OUTPUT_SIZES)
DEFAULT_EMBEDDING = "mean_pool"
# The checkpoint files inside <package>/<model>/: TF1 Saver wrote them with an empty basename.
CHECKPOINT_FILES = (".index", ".data-00000-of-00001")

_REINSTALL = (
    "install the locked environment (`make venv`; where .venv is already stamped current, "
    "`PYTHONPATH=.tools/uv .tools/uv/bin/uv pip install --python .venv/bin/python "
    f"--no-deps {PACKAGE}=={PACKAGE_VERSION}`, or in an image `pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}`; "
    "--no-deps because its declared requirements would downgrade numpy)"
)


class MusicnnUnavailable(RuntimeError):
    """The musicnn package or one of its checkpoints is missing or unreadable."""


def checkpoint_dir(model: str = DEFAULT_MODEL) -> str:
    """The directory of `model`'s checkpoint inside the installed musicnn wheel (musicnn is not imported)."""
    if model not in MODELS:
        raise ValueError(f"unknown musicnn model {model!r}: one of {', '.join(MODELS)}")
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MusicnnUnavailable(
            f"{PACKAGE} {PACKAGE_VERSION} is not installed in this environment; its wheel carries the pretrained "
            f"checkpoints ({', '.join(MODELS)}) and it is in requirements/requirements.lock: {_REINSTALL}"
        )
    directory = os.path.join(list(spec.submodule_search_locations)[0], model)
    missing = [name for name in CHECKPOINT_FILES if not os.path.isfile(os.path.join(directory, name))]
    if missing:
        raise MusicnnUnavailable(
            f"the {PACKAGE} package ({_installed_version()}) has no {model} checkpoint: {', '.join(missing)} "
            f"missing in {directory}; {_REINSTALL}"
        )
    return directory


def _installed_version() -> str:
    try:
        return f"version {importlib.metadata.version(PACKAGE)}"
    except importlib.metadata.PackageNotFoundError:
        return "no installed metadata"


# Keras layer -> the TF1 variable scope musicnn/models.py created it under (tf.compat.v1.layers numbers its
# layers in creation order), for MSD_musicnn and MTT_musicnn alike.
_SCOPES = {
    "input_bn": "batch_normalization",
    "timbral_74": "conv2d",
    "timbral_74_bn": "batch_normalization_1",
    "timbral_77": "conv2d_1",
    "timbral_77_bn": "batch_normalization_2",
    "temporal_128": "conv2d_2",
    "temporal_128_bn": "batch_normalization_3",
    "temporal_64": "conv2d_3",
    "temporal_64_bn": "batch_normalization_4",
    "temporal_32": "conv2d_4",
    "temporal_32_bn": "batch_normalization_5",
    "midend_1": "conv2d_5",
    "midend_1_bn": "batch_normalization_6",
    "midend_2": "conv2d_6",
    "midend_2_bn": "batch_normalization_7",
    "midend_3": "conv2d_7",
    "midend_3_bn": "batch_normalization_8",
    "pool_bn": "batch_normalization_9",
    "penultimate_dense": "dense",
    "penultimate_bn": "batch_normalization_10",
    "tags": "dense_1",
}
_BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")  # Keras' order of a BatchNormalization
_KERNEL_VARIABLES = ("kernel", "bias")


def read_checkpoint(model: str = DEFAULT_MODEL, directory: Optional[str] = None) -> dict[str, np.ndarray]:
    """The checkpoint's model variables (not Adam's slots) by TF1 name; `directory` overrides the wheel's."""
    directory = directory or checkpoint_dir(model)
    # The wheel's `checkpoint` file names the author's machine, so tf.train.load_checkpoint(directory) cannot
    # resolve it: read the prefix (directory + "/", the files' empty basename) directly.
    prefix = os.path.join(directory, "")
    try:
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        names = [n for n in reader.get_variable_to_shape_map() if "/Adam" not in n and not n.endswith("_power")]
        return {name: reader.get_tensor(name) for name in names}
    except (tf.errors.OpError, ValueError, IndexError, OSError) as error:  # IndexError: a truncated data file
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise MusicnnUnavailable(
            f"the {PACKAGE} {model} checkpoint at {directory} is unreadable ({type(error).__name__}: "
            f"{first_line[:300]}); reinstall the package: {_REINSTALL}"
        ) from error


def _assign(network: tf.keras.Model, variables: dict[str, np.ndarray], source: str) -> None:
    """Sets every mapped Keras layer from the checkpoint; each checkpoint variable is used exactly once."""
    used: list[str] = []
    for layer_name, scope in _SCOPES.items():
        layer = network.get_layer(layer_name)
        keys = _BN_VARIABLES if isinstance(layer, tf.keras.layers.BatchNormalization) else _KERNEL_VARIABLES
        names = [f"{scope}/{key}" for key in keys]
        absent = [n for n in names if n not in variables]
        if absent:
            raise MusicnnUnavailable(f"{source} lacks {', '.join(absent)}: not a musicnn checkpoint; {_REINSTALL}")
        values = [variables[n] for n in names]
        if isinstance(layer, tf.keras.layers.Conv1D):  # TF1's [7, width, 1, 64] 2D kernel as a 1D one
            values[0] = values[0].reshape(layer.kernel.shape)
        try:
            layer.set_weights(values)
        except ValueError as error:
            raise MusicnnUnavailable(f"{source}: {scope} does not fit layer {layer_name} ({error})") from error
        used += names
    unused = sorted(set(variables) - set(used))
    assert len(used) == len(set(used)) and not unused, f"{source}: checkpoint variables not loaded: {unused}"
    assert len(used) == len(network.weights), "every Keras weight comes from the checkpoint"


def build_network(model: str = DEFAULT_MODEL, checkpoint_directory: Optional[str] = None) -> tf.keras.Model:
    """The pretrained network: log-mel patches float32 [batch, 187, 96] -> {output: [batch, size]} (OUTPUTS),
    every weight from the checkpoint. Trainable by default, as Keras models are: freeze it or a part of it."""
    layers = tf.keras.layers
    patches = tf.keras.Input((PATCH_FRAMES, N_MELS), name="log_mel_patches")

    def bn(name: str, x):
        # training=False, fixed in the graph: the checkpoint's statistics, also while layers above fine-tune.
        return layers.BatchNormalization(epsilon=1e-3, name=name)(x, training=False)

    image = bn("input_bn", layers.Reshape((PATCH_FRAMES, N_MELS, 1))(patches))
    front = []
    # int(0.4 * 96), int(0.7 * 96) mel bands; "valid" in frequency, time padded by 3 on both sides.
    timbral_input = layers.ZeroPadding2D(((3, 3), (0, 0)))(image)
    for name, height in (("timbral_74", 38), ("timbral_77", 67)):
        x = bn(name + "_bn", layers.Conv2D(204, (7, height), activation="relu", name=name)(timbral_input))
        front.append(layers.Reshape((PATCH_FRAMES, 204))(layers.MaxPooling2D((1, N_MELS - height + 1))(x)))
    for length in (128, 64, 32):
        name = f"temporal_{length}"
        x = bn(name + "_bn", layers.Conv2D(51, (length, 1), padding="same", activation="relu", name=name)(image))
        front.append(layers.Reshape((PATCH_FRAMES, 51))(layers.MaxPooling2D((1, N_MELS))(x)))
    front_end = layers.Concatenate(name="front_end")(front)  # [batch, 187, 561]
    # The mid end's 2D convolutions span all channels, with time padded by 3: a 1D convolution, "same".
    midend = [front_end]
    for i in (1, 2, 3):
        conv = layers.Conv1D(64, 7, padding="same", activation="relu", name=f"midend_{i}")
        x = bn(f"midend_{i}_bn", conv(midend[-1]))
        midend.append(x if i == 1 else layers.Add()([x, midend[-1]]))
    features = layers.Concatenate(name="mid_end")(midend)  # [batch, 187, 753]
    max_pool = layers.GlobalMaxPooling1D(name="max_pool")(features)
    mean_pool = layers.GlobalAveragePooling1D(name="mean_pool")(features)
    # TF1 flattened concat([max, mean], axis=2) of [batch, 753, 1] each: max and mean interleaved per channel.
    pair = [layers.Reshape((OUTPUT_SIZES["mean_pool"], 1))(p) for p in (max_pool, mean_pool)]
    pooled = bn("pool_bn", layers.Flatten()(layers.Concatenate()(pair)))
    penultimate = bn("penultimate_bn", layers.Dense(200, activation="relu", name="penultimate_dense")(pooled))
    taggram = layers.Activation("sigmoid", name="taggram")(layers.Dense(50, name="tags")(penultimate))
    outputs = {"mean_pool": mean_pool, "max_pool": max_pool, "penultimate": penultimate, "taggram": taggram}
    network = tf.keras.Model(patches, outputs, name=model)
    directory = checkpoint_directory or checkpoint_dir(model)
    _assign(network, read_checkpoint(model, directory), f"{PACKAGE} checkpoint {directory}")
    return network


@functools.lru_cache(maxsize=1)
def mel_matrix() -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=512, n_mels=96) as [257, 96] float32."""
    return spectrogram.mel_filter_bank(SAMPLE_RATE, N_FFT, N_MELS, 0.0, SAMPLE_RATE / 2.0)


def log_mel_patches(waveform, sample_rate: int):
    """float32 [batch, samples] at sample_rate -> musicnn's input [batch, patches, 187, 96]."""
    audio = resampling.resample(waveform, sample_rate, SAMPLE_RATE)
    power = spectrogram.mel_power(audio, tf.constant(mel_matrix()), N_FFT, HOP_LENGTH)
    log_mel = tf.math.log1p(10000.0 * power) / np.log(10.0)
    return tf.signal.frame(log_mel, PATCH_FRAMES, PATCH_FRAMES, axis=1)


min_samples = musicnn_settings.musicnn_min_samples


@tf.keras.utils.register_keras_serializable(package="musicnn")
class MusicnnEmbedding(tf.keras.layers.Layer):
    """waveform float32 [batch, samples] at sample_rate -> {output: [batch, patches, size]} for `outputs`.

    One patch per 187 frames (3 s at 16 kHz; a 3 s segment at the pipeline's rate gives one patch); average
    over the patches for a clip-level embedding, as STACK.md's measurement did.
    """

    def __init__(
        self,
        sample_rate: int = 22050,
        model: str = DEFAULT_MODEL,
        outputs: Sequence[str] = (DEFAULT_EMBEDDING,),
        checkpoint_directory: Optional[str] = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        unknown = sorted(set(outputs) - set(OUTPUTS))
        if unknown or not outputs:
            raise ValueError(f"musicnn outputs must be among {', '.join(OUTPUTS)}; got {list(outputs)}")
        self.sample_rate, self.model_name, self.output_keys = int(sample_rate), model, tuple(outputs)
        self.checkpoint_directory = checkpoint_directory
        self.network = build_network(model, checkpoint_directory)

    def call(self, waveform):
        patches = log_mel_patches(waveform, self.sample_rate)
        lead = tf.shape(patches)[:2]
        out = self.network(tf.reshape(patches, [-1, PATCH_FRAMES, N_MELS]))
        result = {}
        for name in self.output_keys:
            value = tf.reshape(out[name], tf.concat([lead, [OUTPUT_SIZES[name]]], 0))
            value.set_shape(patches.shape[:2].concatenate([OUTPUT_SIZES[name]]))
            result[name] = value
        return result

    def get_config(self):
        return {
            **super().get_config(),
            "sample_rate": self.sample_rate,
            "model": self.model_name,
            "outputs": list(self.output_keys),
            "checkpoint_directory": self.checkpoint_directory,
        }


def clip_embedding(patches):
    """[batch, patches, size] -> [batch, size]: the mean over an example's 3 s patches, the embedding the
    featurizer stores and a fine-tuned model feeds its head alike."""
    return tf.reduce_mean(patches, axis=1)


def build_embedder(
    sample_rate: int = 22050,
    num_samples: Optional[int] = None,
    model: str = DEFAULT_MODEL,
    outputs: Sequence[str] = (DEFAULT_EMBEDDING,),
    trainable: bool = False,
    checkpoint_directory: Optional[str] = None,
) -> tf.keras.Model:
    """A Keras model: "waveform" float32 [batch, num_samples] at sample_rate (None: any length) ->
    {output: [batch, patches, size]}. Frozen unless `trainable`; call it inside a larger model like a layer."""
    if num_samples is not None and num_samples < min_samples(sample_rate):
        raise ValueError(
            f"musicnn needs at least {min_samples(sample_rate)} samples at {sample_rate} Hz (one 187-frame patch, "
            f"~3 s); got {num_samples}"
        )
    waveform = tf.keras.Input((num_samples,), name="waveform")
    embedding = MusicnnEmbedding(sample_rate, model, outputs, checkpoint_directory, name="musicnn")
    embedding.trainable = trainable
    return tf.keras.Model(waveform, embedding(waveform), name=f"{model}_embedder")
