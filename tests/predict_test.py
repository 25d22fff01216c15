"""`genre-predict`: whole real files through a model pushed by the real pusher executor."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from components.versioned_pusher import versions
from pipeline import predict
from pipeline.config import FMA_SMALL_GENRES, PROJECT_ROOT
from tests.helpers.keras_trainer import DRUM_BASS, FIXTURE_AUDIO, VIBE_ACE
from tests.helpers.versioned_pusher import make_blessing, run_pusher

MP3 = FIXTURE_AUDIO / "fma_000010_excerpt.mp3"  # 2 s, 44.1 kHz stereo
PYTHON = str(PROJECT_ROOT / ".venv" / "bin" / "python")


@pytest.fixture(scope="module")
def destination(trained, tmp_path_factory):
    """A push destination holding the tiny trained model as its one version."""
    root = tmp_path_factory.mktemp("predict")
    model_uri = os.path.dirname(trained["serving_model_dir"])
    run_pusher(
        model_uri, make_blessing(str(root / "blessing"), True, model_uri), str(root / "serving"), str(root / "pushed")
    )
    return str(root / "serving")


@pytest.fixture(scope="module")
def broken_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    data = MP3.read_bytes()
    files = {
        "truncated": root / "truncated.mp3",
        "garbage": root / "garbage.mp3",
        "empty": root / "empty.wav",
        "unsupported": root / "notes.txt",
        "missing": root / "missing.ogg",
    }
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["garbage"].write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    files["empty"].write_bytes(b"")
    files["unsupported"].write_text("not audio")
    return {name: str(path) for name, path in files.items()}


def _jsonl(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_jsonl_for_real_ogg_and_mp3(destination, capsys):
    code = predict.main([str(VIBE_ACE), str(MP3), "--model", destination, "--format", "jsonl"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    records = {os.path.basename(r["file"]): r for r in _jsonl(captured.out)}
    assert set(records) == {VIBE_ACE.name, MP3.name}
    for record in records.values():
        assert list(record["probabilities"]) == list(FMA_SMALL_GENRES)
        assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert record["genre"] == max(record["probabilities"], key=record["probabilities"].get)
        assert record["confidence"] == record["probabilities"][record["genre"]]
        assert record["warnings"] == []
    # Whole tracks, cut into the tiny model's 1 s segments.
    assert records[VIBE_ACE.name]["segments"] == int(records[VIBE_ACE.name]["duration"])
    assert records[VIBE_ACE.name]["duration"] == pytest.approx(61.5, abs=0.5)
    mp3 = records[MP3.name]
    assert mp3["segments"] == 2 and mp3["duration"] == pytest.approx(2.0, abs=0.05)
    assert mp3["source"] == {"format": "MP3", "sample_rate": 44100, "channels": 2}
    newest = versions.newest_version(destination)
    assert f"Model: {newest.model_dir} (version {newest.version}" in captured.err


def test_table_output_and_every_form_of_model_path(destination, trained, capsys):
    newest = versions.newest_version(destination)
    outputs = []
    for model, trust in (
        (destination, []),
        (newest.model_dir, []),
        # not in this pipeline's MLMD: loaded only with --trust-model
        (os.path.dirname(trained["serving_model_dir"]), ["--trust-model"]),
        (trained["serving_model_dir"], ["--trust-model"]),
    ):
        assert predict.main([str(DRUM_BASS), "--model", model, *trust]) == 0
        outputs.append(capsys.readouterr().out)
    assert len(set(outputs)) == 1  # the same model each way, the same table
    header, row = outputs[0].splitlines()
    assert header.split()[:4] == ["FILE", "GENRE", "CONFIDENCE", "TOP-3"]
    assert row.startswith(str(DRUM_BASS))
    genre = row[len(str(DRUM_BASS)) :].split()[0]
    assert genre in FMA_SMALL_GENRES and f"{genre} " in row.split(maxsplit=3)[3]


def test_newest_pushed_model_from_the_config(destination, capsys):
    assert predict.main([str(MP3), "--set", f"pusher.destination={destination}", "--format", "jsonl"]) == 0
    assert len(_jsonl(capsys.readouterr().out)) == 1


def test_broken_files_fail_one_by_one_and_the_rest_still_print(destination, broken_files, capsys):
    files = [str(MP3), *broken_files.values(), str(DRUM_BASS)]
    code = predict.main([*files, "--model", destination, "--format", "jsonl"])
    captured = capsys.readouterr()
    assert code == 1
    records = {r["file"]: r for r in _jsonl(captured.out)}
    assert list(records) == files  # input order, one line each
    assert "genre" in records[str(MP3)] and "genre" in records[str(DRUM_BASS)]
    reasons = {name: records[path]["error"] for name, path in broken_files.items()}
    assert reasons == {
        "truncated": "truncated",
        "garbage": "undecodable",
        "empty": "empty_file",
        "unsupported": "unsupported_extension",
        "missing": "missing_file",
    }
    for path in broken_files.values():
        assert records[path]["detail"]
        assert sum(line.startswith(f"genre-predict: {path}: ") for line in captured.err.splitlines()) == 1
    assert "5 of 7 files could not be predicted" in captured.err


def test_broken_files_in_table_mode(destination, broken_files, capsys):
    code = predict.main([broken_files["garbage"], str(MP3), "--model", destination])
    captured = capsys.readouterr()
    assert code == 1
    assert str(MP3) in captured.out and broken_files["garbage"] not in captured.out
    assert f"genre-predict: {broken_files['garbage']}: not a recognised audio format" in captured.err


def test_low_sample_rate_file_is_predicted_with_a_warning(destination, tmp_path, capsys):
    audio, rate = sf.read(str(DRUM_BASS), dtype="float32")
    narrow = tmp_path / "phone.wav"
    sf.write(str(narrow), audio[: rate * 3 : 2], rate // 2)  # 11.025 kHz: nothing above 5.5 kHz
    assert predict.main([str(narrow), "--model", destination, "--format", "jsonl"]) == 0
    captured = capsys.readouterr()
    (record,) = _jsonl(captured.out)
    assert record["source"]["sample_rate"] == 11025 and record["segments"] == 3
    assert "nothing above 5512.5 Hz" in record["warnings"][0] and "warning: sampled at 11025 Hz" in captured.err


def test_file_that_cannot_fill_the_model_band_is_an_error():
    with pytest.raises(predict.FileFailed, match="holds nothing above 4000 Hz.*starts at 5000 Hz"):
        predict.bandwidth_warnings(8000, {"sample_rate": 22050, "fmin": 5000.0, "fmax": None})
    assert predict.bandwidth_warnings(44100, {"sample_rate": 22050, "fmin": 0.0, "fmax": None}) == []


def test_a_saved_model_that_is_no_genre_model_is_a_usage_error(tiny_artifact, capsys):
    featurizer_saved_model = os.path.join(tiny_artifact["featurizer"], "saved_model")
    assert predict.main([str(MP3), "--model", featurizer_saved_model, "--trust-model"]) == 2
    assert "is not a genre model exported by components.keras_trainer" in capsys.readouterr().err


def test_no_model_found_is_instant_and_says_what_to_do(tmp_path):
    """Run in a fresh interpreter: the answer comes before TensorFlow is imported."""
    script = (
        "import sys; from pipeline.predict import main; "
        f"code = main([{str(MP3)!r}, '--set', 'pusher.destination={tmp_path / 'serving'}']); "
        "print('tensorflow imported:', 'tensorflow' in sys.modules); sys.exit(code)"
    )
    done = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "tensorflow imported: False" in done.stdout
    assert f"no pushed model in {tmp_path / 'serving'}" in done.stderr and "make run-local" in done.stderr
    assert "--model" in done.stderr


def test_usage_errors(tmp_path, capsys):
    assert predict.main([]) == 2
    assert "no audio files given" in capsys.readouterr().err
    assert predict.main([str(MP3), "--model", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert predict.main([str(MP3), "--model", str(tmp_path)]) == 2
    assert "holds no model" in capsys.readouterr().err
    assert predict.main([str(MP3), "--batch-size", "0"]) == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_real_entry_point_in_a_subprocess(destination, broken_files):
    done = subprocess.run(
        [
            PYTHON,
            "-m",
            "pipeline.predict",
            str(MP3),
            broken_files["empty"],
            "--model",
            destination,
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    good, bad = _jsonl(done.stdout)
    assert good["file"] == str(MP3) and sum(good["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert bad == {"file": broken_files["empty"], "error": "empty_file", "detail": "file has 0 bytes"}
    assert f"genre-predict: {broken_files['empty']}: file has 0 bytes [empty_file]" in done.stderr


# -- untrusted model directories (issue 11, item 5) -----------------------------------------------------
@pytest.fixture
def no_loading(monkeypatch):
    """Fails any attempt to load a SavedModel: refused directories must be refused before their graph runs."""
    import components.formats.serving as serving

    def load(directory):
        raise AssertionError(f"loaded {directory}")

    monkeypatch.setattr(serving, "load_serving_model", load)


def _copy_destination(destination, root):
    import shutil

    copy = str(root / "serving")
    shutil.copytree(destination, copy)
    return copy, versions.newest_version(copy)


def test_tampered_pushed_version_is_refused_before_loading(destination, tmp_path, no_loading, capsys):
    copy, newest = _copy_destination(destination, tmp_path)
    with open(os.path.join(newest.model_dir, "saved_model.pb"), "ab") as f:
        f.write(b"\x00")  # one byte changed after the push
    for args in (["--model", copy], ["--model", newest.model_dir], ["--set", f"pusher.destination={copy}"]):
        assert predict.main([str(MP3), *args]) == 2
        err = capsys.readouterr().err
        assert f"refusing to load version {newest.version} ({newest.model_dir})" in err
        assert "do not match the model_digest" in err


def test_planted_version_without_digest_is_refused(destination, tmp_path, no_loading, capsys):
    import json as json_lib

    copy, newest = _copy_destination(destination, tmp_path)
    manifest = dict(newest.manifest)
    del manifest["model_digest"]
    with open(newest.manifest_path, "w") as f:
        json_lib.dump(manifest, f)
    assert predict.main([str(MP3), "--model", copy]) == 2
    assert f"version {newest.version} ({newest.model_dir}): its manifest" in capsys.readouterr().err


def test_directory_outside_pushes_and_mlmd_needs_trust_model(trained, tmp_path, monkeypatch, capsys):
    import shutil

    import components.formats.serving as serving

    planted = str(tmp_path / "planted")
    shutil.copytree(trained["serving_model_dir"], planted)
    real_load, loaded = serving.load_serving_model, []
    monkeypatch.setattr(serving, "load_serving_model", lambda d: loaded.append(d) or real_load(d))
    for model in (planted, os.path.dirname(trained["serving_model_dir"])):
        assert predict.main([str(MP3), "--model", model, "--set", f"output_root={tmp_path}"]) == 2
        err = capsys.readouterr().err
        assert "is neither a pushed version" in err and "--trust-model" in err
    assert loaded == []
    assert predict.main([str(MP3), "--model", planted, "--trust-model", "--set", f"output_root={tmp_path}"]) == 0
    assert loaded == [planted] and "trusted with --trust-model" in capsys.readouterr().err


def _record_model_in_mlmd(metadata_path, uri, context_name):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    os.makedirs(os.path.dirname(metadata_path), exist_ok=True)
    connection = pb.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    connection.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(connection)
    model_type = store.put_artifact_type(pb.ArtifactType(name="Model"))
    execution_type = store.put_execution_type(pb.ExecutionType(name="Trainer"))
    context_type = store.put_context_type(pb.ContextType(name="node"))
    [context_id] = store.put_contexts([pb.Context(type_id=context_type, name=context_name)])
    store.put_execution(
        pb.Execution(type_id=execution_type, last_known_state=pb.Execution.COMPLETE),
        [(pb.Artifact(type_id=model_type, uri=uri, state=pb.Artifact.LIVE), pb.Event(type=pb.Event.OUTPUT))],
        [pb.Context(id=context_id, type_id=context_type, name=context_name)],
    )


def test_trainer_model_recorded_in_this_pipelines_mlmd_is_loaded(trained, tmp_path, capsys):
    model_uri = os.path.dirname(trained["serving_model_dir"])
    other = tmp_path / "other"  # the same artifact, but produced by another node: not trusted
    _record_model_in_mlmd(str(other / "fma-genre" / "metadata.sqlite"), model_uri, "fma-genre.SklearnBaselineTrainer")
    assert predict.main([str(MP3), "--model", model_uri, "--set", f"output_root={other}"]) == 2
    assert "--trust-model" in capsys.readouterr().err
    _record_model_in_mlmd(str(tmp_path / "fma-genre" / "metadata.sqlite"), model_uri, "fma-genre.Trainer")
    for model in (model_uri, trained["serving_model_dir"]):
        assert predict.main([str(MP3), "--model", model, "--set", f"output_root={tmp_path}"]) == 0
        assert "recorded in MLMD" in capsys.readouterr().err


# -- refusing what ingestion quarantines; streaming (issue 11, items 1 and 3) ---------------------------
@pytest.fixture(scope="module")
def refused_files(tmp_path_factory):
    """What AudioExampleGen quarantines (tests/helpers/factories.broken_inputs, the files its tests use), 30 s of
    digital silence, a 0.3 s blip, and directories: name -> (path, the reason genre-predict must give)."""
    from tests.helpers import factories

    root = tmp_path_factory.mktemp("refused")
    files = {}
    for name, (data, reason) in factories.broken_inputs().items():
        (root / name).write_bytes(data)
        files[name] = (str(root / name), reason)
    sf.write(str(root / "silence.wav"), np.zeros(30 * 22050, np.float32), 22050)
    sf.write(str(root / "blip.wav"), factories.tone(0.3, 44100, 2), 44100)
    (root / "album").mkdir()
    (root / "album.mp3").mkdir()  # a directory named like an audio file
    for name, reason in (
        ("silence.wav", "silent"),
        ("blip.wav", "too_short"),
        ("album", "is_a_directory"),
        ("album.mp3", "is_a_directory"),
    ):
        files[name] = (str(root / name), reason)
    return files


def test_what_ingestion_quarantines_is_refused_per_file_with_its_reason(destination, refused_files, capsys):
    paths = [path for path, _ in refused_files.values()]
    code = predict.main([str(MP3), *paths, "--model", destination, "--format", "jsonl"])
    captured = capsys.readouterr()
    assert code == 1
    records = {r["file"]: r for r in _jsonl(captured.out)}
    assert list(records) == [str(MP3), *paths]
    assert "genre" in records[str(MP3)]
    assert {name: records[path].get("error") for name, (path, _) in refused_files.items()} == {
        name: reason for name, (_, reason) in refused_files.items()
    }
    silence, blip = refused_files["silence.wav"][0], refused_files["blip.wav"][0]
    assert "100.0% of frames below -60 dBFS" in records[silence]["detail"]
    assert "0.30 s of audio, under the 2 s minimum" in records[blip]["detail"]
    assert f"genre-predict: {refused_files['album'][0]}: is a directory" in captured.err
    assert f"{len(paths)} of {len(paths) + 1} files could not be predicted" in captured.err


def test_a_file_is_predicted_block_by_block_as_a_whole(destination, monkeypatch, capsys):
    """Decoded, validated, cut and predicted in small blocks, a track gets what predict_track gives its
    whole waveform decoded at once."""
    from components.audio_example_gen import audio
    from components.formats.serving import load_serving_model
    from components.keras_trainer.track_prediction import predict_track

    monkeypatch.setattr(audio, "BLOCK_FRAMES", 3001)
    assert predict.main([str(VIBE_ACE), "--model", destination, "--format", "jsonl"]) == 0
    (record,) = _jsonl(capsys.readouterr().out)
    loaded, info = load_serving_model(versions.newest_version(destination).model_dir)
    samples, _ = sf.read(str(VIBE_ACE), dtype="float32")  # 22.05 kHz mono: the model's rate, no resampling
    whole = predict_track(loaded, samples, info=info)
    assert record["segments"] == whole.num_segments == 61
    assert record["duration"] == pytest.approx(len(samples) / 22050, abs=1e-3)
    for genre, p in zip(info["genres"], whole.probabilities):
        assert record["probabilities"][genre] == pytest.approx(float(p), abs=2e-6)


@pytest.mark.skipif(__import__("shutil").which("make") is None, reason="GNU make is not installed")
def test_make_predict_reports_genre_predicts_exit_status(destination, refused_files):
    """GNU make exits 2 whenever a recipe fails, whatever the recipe's status: the recipe names
    genre-predict's own status (1: files refused) and where to get it as the exit status."""
    silence = refused_files["silence.wav"][0]
    venv = sys.prefix  # the environment running the tests (.venv, or .venv-py310 in CI's second run)
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            f"{venv}/.installed-from-lock",
            "predict",
            f"VENV={venv}",
            f"FILES={MP3} {silence}",
            f"MODEL={destination}",
            "FORMAT=jsonl",
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert f"genre-predict: {silence}: " in done.stderr and "[silent]" in done.stderr
    assert "genre-predict exited with status 1" in done.stderr
    assert f"run {venv}/bin/genre-predict directly" in done.stderr
    good, bad = _jsonl("\n".join(line for line in done.stdout.splitlines() if line.startswith("{")))
    assert good["file"] == str(MP3) and bad == {"file": silence, "error": "silent", "detail": bad["detail"]}
