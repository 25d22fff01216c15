"""components/musicnn.py against musicnn's own extractor on real music, and its checkpoint handling.

The reference is `musicnn.extractor.extractor(file, model, input_length=3, input_overlap=False,
extract_features=True)` run in a subprocess (it builds a TF1 graph after disabling eager execution, which
would leak into this process), on 15 s excerpts of three fixture clips written as float WAV at 22.05 kHz.
Three comparisons separate the sources of difference. Max abs difference measured on the three whole clips
(61 + 25 + 46 s, 43 patches), MSD_musicnn (MTT_musicnn in brackets where it differs):

- the network alone, fed the extractor's own log-mel patches: float32 round-off. Tags 4.8e-7 (1.7e-6),
  penultimate 2.4e-6 (5.6e-6), mean_pool 3.3e-6 (5.6e-6), max_pool 1.4e-4 (3.6e-4) on values up to 124 (77).
- the front end at 16 kHz, fed librosa.load's audio: 2.1e-4 in log10(1 + 10000 x), the extractor's float16
  rounding of the mel power, which we do not do (bound: 2^-11 relative / ln 10 = 2.1e-4).
- the whole graph from the 22.05 kHz waveform (resampled in the graph, not by soxr): log-mel up to 2.4e-3
  in the top mel bands (7.5-8 kHz, the resampling filters' transition band; float16's 2.1e-4 below 7 kHz);
  tags 2.2e-4, penultimate 1.0e-3, mean_pool 2.5e-3 (2.8e-3) on values up to 9, max_pool 0.069 on values
  up to 124. Clip means (what a clip-level embedding is) differ by at most 3.2e-4 in relative L2 norm.

musicnn 0.1.0's extractor returns the first batch's `penultimate` (and cnn1-3) again for every later batch
(it concatenates a stale variable): the reference runs all patches as one batch to get them right.
"""

import importlib.machinery
import importlib.util
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from components import musicnn
from tests.helpers.factories import DRUM_BASS, FIXTURE_AUDIO, VIBE_ACE
from tests.helpers.keras_trainer import real_clip

CLIPS = (
    VIBE_ACE,
    DRUM_BASS,
    FIXTURE_AUDIO / "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg",
)
RATE = 22050
EXCERPT = (5 * RATE, 15 * RATE)  # start, length: 15 s, five 3 s patches

REFERENCE = """
import os, sys
import numpy as np, librosa
from musicnn import configuration, extractor
configuration.BATCH_SIZE = 1 << 20  # one batch: 0.1.0 repeats the first batch's penultimate for later ones
model, out_dir, files = sys.argv[1], sys.argv[2], sys.argv[3:]
for i, f in enumerate(files):
    taggram, _, features = extractor.extractor(f, model=model, input_length=3, input_overlap=False)
    patches, _ = extractor.batch_data(f, 187, 187)
    audio, _ = librosa.load(f, sr=16000)
    np.savez(os.path.join(out_dir, f"{i}.npz"), taggram=taggram, patches=patches, audio16=audio,
             **{k: features[k] for k in ("mean_pool", "max_pool", "penultimate")})
"""

# (rtol, atol) per output: |ours - reference| <= atol + rtol * |reference|. The network alone: float32
# round-off. The whole graph: in-graph resampling and float32 mel power against soxr and float16 (see above),
# as r * (1 + |reference|) with r about twice the largest measured (whole clips, both models; the excerpts
# here give less): 1.5e-4 (tags), 8.9e-4 (penultimate), 1.6e-3 (mean_pool), 7.9e-3 (max_pool: the max over
# time keeps the largest local difference, e.g. the first frame's soxr edge on an excerpt, 0.135 on 30.6).
NETWORK = dict.fromkeys(musicnn.OUTPUTS, (1e-5, 1e-5)) | {"max_pool": (1e-5, 5e-4)}
WHOLE_GRAPH = {
    "taggram": (4e-4, 4e-4),
    "penultimate": (2e-3, 2e-3),
    "mean_pool": (3e-3, 3e-3),
    "max_pool": (1.5e-2, 1.5e-2),
}


def _excerpts(directory) -> list[str]:
    paths = []
    for clip in CLIPS:
        samples, rate = sf.read(clip, dtype="float32", start=EXCERPT[0], frames=EXCERPT[1])
        assert rate == RATE
        path = os.path.join(directory, clip.stem[:20] + ".wav")
        sf.write(path, samples, RATE, subtype="FLOAT")  # lossless: both sides read the same samples
        paths.append(path)
    return paths


def _reference(model: str, directory) -> list[dict]:
    files = _excerpts(directory)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run(
        [sys.executable, "-c", REFERENCE, model, str(directory), *files],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return [dict(np.load(os.path.join(directory, f"{i}.npz")), path=path) for i, path in enumerate(files)]


@pytest.fixture(scope="module")
def msd_reference(tmp_path_factory):
    return _reference("MSD_musicnn", tmp_path_factory.mktemp("msd_reference"))


@pytest.fixture(scope="module")
def msd_network():
    return musicnn.build_network("MSD_musicnn")


def _assert_close(ours: dict, reference: dict, tolerances: dict):
    for name, (rtol, atol) in tolerances.items():
        np.testing.assert_allclose(ours[name], reference[name], rtol=rtol, atol=atol, err_msg=name)


def test_network_alone_matches_extractor_on_its_patches(msd_reference, msd_network):
    for reference in msd_reference:
        assert reference["patches"].shape == (5, 187, 96)
        ours = {k: v.numpy() for k, v in msd_network(reference["patches"].astype(np.float32)).items()}
        _assert_close(ours, reference, NETWORK)


def test_front_end_at_16k_matches_librosa(msd_reference):
    for reference in msd_reference:
        ours = musicnn.log_mel_patches(tf.constant(reference["audio16"][None]), 16000).numpy()[0]
        assert ours.shape == reference["patches"].shape
        # The extractor's float16 rounding of the mel power: at most 2.1e-4 measured.
        np.testing.assert_allclose(ours, reference["patches"], rtol=0, atol=2.5e-4)


def test_whole_graph_from_the_pipeline_rate_matches_extractor(msd_reference):
    embedder = musicnn.build_embedder(RATE, EXCERPT[1], outputs=musicnn.OUTPUTS)
    waveforms = np.stack([sf.read(reference["path"], dtype="float32")[0] for reference in msd_reference])
    patches = musicnn.log_mel_patches(tf.constant(waveforms), RATE).numpy()
    outputs = {k: v.numpy() for k, v in embedder(waveforms).items()}
    for i, reference in enumerate(msd_reference):
        ours, theirs = patches[i].reshape(-1, 96), reference["patches"].reshape(-1, 96)
        # Frame 0: soxr's one-shot resample (librosa.load) bends its first two samples when a clip starts
        # abruptly, as these excerpts do (components/resampling_test.py): up to 1.0e-2 measured.
        np.testing.assert_allclose(ours[0], theirs[0], rtol=0, atol=2e-2)
        # Top mel bands (the resampling filters' transition band): 2.6e-3 measured; below 7 kHz (bands < 85)
        # float16's 2.1e-4 plus 5e-5.
        np.testing.assert_allclose(ours[1:], theirs[1:], rtol=0, atol=5e-3)
        np.testing.assert_allclose(ours[1:, :85], theirs[1:, :85], rtol=0, atol=3e-4)
        _assert_close({k: v[i] for k, v in outputs.items()}, reference, WHOLE_GRAPH)


def test_embedder_is_frozen_and_fits_in_a_larger_model():
    embedder = musicnn.build_embedder(RATE, 3 * RATE)  # one 3 s segment: one patch
    assert embedder.trainable_weights == [] and len(embedder.non_trainable_weights) == 64
    waveform = tf.keras.Input((3 * RATE,), name="waveform")
    pooled = tf.keras.layers.GlobalAveragePooling1D()(embedder(waveform)[musicnn.DEFAULT_EMBEDDING])
    model = tf.keras.Model(waveform, tf.keras.layers.Dense(8, activation="softmax")(pooled))
    assert [w.shape for w in model.trainable_weights] == [(753, 8), (8,)]
    assert embedder.output_shape == {"mean_pool": (None, 1, 753)}
    assert model(np.zeros((2, 3 * RATE), np.float32)).shape == (2, 8)
    assert musicnn.min_samples(RATE) == 65620 and musicnn.min_samples(16000) == 186 * 256
    with pytest.raises(ValueError, match="at least 65620 samples"):
        musicnn.build_embedder(RATE, 65619)
    assert musicnn.log_mel_patches(tf.zeros([1, 65620]), RATE).shape == (1, 1, 187, 96)
    assert musicnn.log_mel_patches(tf.zeros([1, 65619]), RATE).shape == (1, 0, 187, 96)
    any_length = musicnn.build_embedder(RATE, outputs=("taggram", "mean_pool"))
    assert any_length.output_shape == {"taggram": (None, None, 50), "mean_pool": (None, None, 753)}
    clip = sf.read(VIBE_ACE, dtype="float32", start=RATE, frames=7 * RATE)[0][None]  # 7 s: two patches
    np.testing.assert_allclose(
        any_length(clip)["mean_pool"][:, :1], embedder(clip[:, : 3 * RATE])["mean_pool"], atol=1e-4
    )
    assert any_length(clip)["taggram"].shape == (1, 2, 50)


def test_a_larger_model_saves_and_serves(tmp_path):
    embedder = musicnn.build_embedder(RATE, 3 * RATE)
    waveform = tf.keras.Input((3 * RATE,), name="waveform")
    pooled = tf.keras.layers.GlobalAveragePooling1D()(embedder(waveform)[musicnn.DEFAULT_EMBEDDING])
    model = tf.keras.Model(waveform, tf.keras.layers.Dense(4, activation="softmax", name="genre")(pooled))
    model.save(str(tmp_path / "model"))
    serving = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"]
    clips = sf.read(VIBE_ACE, dtype="float32", start=RATE, frames=6 * RATE)[0].reshape(2, 3 * RATE)
    np.testing.assert_allclose(serving(waveform=tf.constant(clips))["genre"], model(clips), rtol=0, atol=1e-6)


def test_mtt_is_selectable_and_differs(msd_network):
    mtt = musicnn.build_network("MTT_musicnn")
    patches = np.random.default_rng(0).uniform(0, 3, (2, 187, 96)).astype(np.float32)
    assert not np.allclose(mtt(patches)["taggram"], msd_network(patches)["taggram"])
    with pytest.raises(ValueError, match="unknown musicnn model"):
        musicnn.checkpoint_dir("MSD_vgg")


@pytest.mark.slow
def test_mtt_whole_graph_matches_extractor(tmp_path):
    references = _reference("MTT_musicnn", tmp_path)
    network = musicnn.build_network("MTT_musicnn")
    embedder = musicnn.build_embedder(RATE, EXCERPT[1], model="MTT_musicnn", outputs=musicnn.OUTPUTS)
    for reference in references:
        _assert_close({k: v.numpy() for k, v in network(reference["patches"]).items()}, reference, NETWORK)
        waveform = sf.read(reference["path"], dtype="float32")[0][None]
        _assert_close({k: v.numpy()[0] for k, v in embedder(waveform).items()}, reference, WHOLE_GRAPH)


# -- the checkpoint: from the wheel, offline; clear failures --------------------------------------------------
def test_checkpoint_is_read_from_the_installed_wheel_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access in a test that must run offline")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    imported_before = "musicnn" in sys.modules
    directory = musicnn.checkpoint_dir("MSD_musicnn")
    package = os.path.dirname(importlib.util.find_spec("musicnn").origin)
    assert directory == os.path.join(package, "MSD_musicnn") and directory.startswith(sys.prefix)
    variables = musicnn.read_checkpoint("MSD_musicnn")
    assert len(variables) == 64 and variables["dense_1/kernel"].shape == (200, 50)
    assert musicnn.build_network("MSD_musicnn").count_params() == sum(v.size for v in variables.values())
    assert imported_before or "musicnn" not in sys.modules  # found, never imported


def _fake_package(monkeypatch, location):
    """find_spec("musicnn") answers a package at `location`."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name != "musicnn":
            return real(name, *args, **kwargs)
        if location is None:
            return None
        spec = importlib.machinery.ModuleSpec("musicnn", None, origin=str(location / "__init__.py"), is_package=True)
        spec.submodule_search_locations = [str(location)]
        return spec

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_package_names_it_and_the_fix(monkeypatch):
    _fake_package(monkeypatch, None)
    with pytest.raises(musicnn.MusicnnUnavailable, match=r"musicnn 0\.1\.0 is not installed") as raised:
        musicnn.build_network()
    assert "make venv" in str(raised.value) and "--no-deps musicnn==0.1.0" in str(raised.value)


def test_missing_checkpoint_names_the_files_and_the_fix(monkeypatch, tmp_path):
    (tmp_path / "MSD_musicnn").mkdir()
    _fake_package(monkeypatch, tmp_path)
    with pytest.raises(musicnn.MusicnnUnavailable, match="has no MSD_musicnn checkpoint: .index, .data") as raised:
        musicnn.checkpoint_dir()
    assert "make venv" in str(raised.value)


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_corrupt_checkpoint_names_the_package_and_the_fix(monkeypatch, tmp_path, damage):
    shutil.copytree(musicnn.checkpoint_dir("MSD_musicnn"), tmp_path / "MSD_musicnn")
    data = tmp_path / "MSD_musicnn" / ".data-00000-of-00001"
    content = bytearray(data.read_bytes())
    if damage == "truncated":
        content = content[: len(content) // 2]
    else:  # bytes flipped across the file: caught by the per-tensor CRC32C of the model's tensors it hits
        # (a flip in an optimizer slot, which is never read, would rightly go unnoticed)
        for position in range(len(content) // 16, len(content), len(content) // 8):
            content[position] ^= 0xFF
    data.write_bytes(bytes(content))
    _fake_package(monkeypatch, tmp_path)
    with pytest.raises(
        musicnn.MusicnnUnavailable, match="musicnn MSD_musicnn checkpoint at .* is unreadable"
    ) as raised:
        musicnn.build_network()
    assert "reinstall" in str(raised.value) and "--no-deps musicnn==0.1.0" in str(raised.value)


def test_featurizer_settings_offer_exactly_the_wheels_models_and_layers():
    from typing import get_args

    from components.featurizer import MusicnnFeatures

    assert get_args(MusicnnFeatures.model_fields["model"].annotation) == musicnn.MODELS
    assert get_args(MusicnnFeatures.model_fields["embedding"].annotation) == musicnn.OUTPUTS
    assert MusicnnFeatures().model == musicnn.DEFAULT_MODEL and MusicnnFeatures().embedding == musicnn.DEFAULT_EMBEDDING


def test_examples_too_short_for_one_patch_are_refused_with_the_fix():
    from components.featurizer import MusicnnFeatures, SpectrogramConfig, SpectrogramSettings

    with pytest.raises(ValueError, match=r"at least 65620 samples at 22050 Hz .*audio.segment_seconds=3"):
        SpectrogramSettings.of(SpectrogramConfig(), 22050, 65619, MusicnnFeatures())
    assert SpectrogramSettings.of(SpectrogramConfig(), 22050, 65620, MusicnnFeatures()).musicnn.size == 753


def test_exported_featurizer_adds_the_embedding_of_the_wheels_network(musicnn_artifact):
    """SpectrogramTransform stores what this featurizer computes: the mean over patches of the chosen layer."""
    from components.featurizer import MUSICNN_OUTPUT, load_featurizer

    featurizer = load_featurizer(musicnn_artifact["featurizer"])
    settings = featurizer.settings
    waveform = np.stack(
        [real_clip(VIBE_ACE, 5.0, settings.num_samples), real_clip(DRUM_BASS, 2.0, settings.num_samples)]
    )
    stored = featurizer.featurize(tf.constant(waveform))[MUSICNN_OUTPUT].numpy()
    rebuilt = musicnn.build_embedder(settings.sample_rate, settings.num_samples)(waveform)["mean_pool"].numpy()
    assert stored.shape == (2, 753)
    np.testing.assert_allclose(stored, rebuilt.mean(axis=1), atol=1e-5)
