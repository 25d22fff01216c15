"""The compiled spec, run: AudioExampleGen -> StatisticsGen -> ExampleValidator -> SpectrogramTransform ->
Trainer (and SklearnBaselineTrainer) -> Evaluator -> Pusher -> RunReporter through the container entrypoint
each executor of the Kubeflow YAML names (tfx...kubeflow_v2_run_executor), with the command line, parameters,
artifact types and the wiring between tasks taken from the compiled file and an executor input built the way
the KFP driver builds it.

The strongest check, without a cluster, that the spec would run: only the data and push locations change (the
spec names gs://, the test's are local) and the schema stands in for SchemaGen.
Everything else (executor classes, parameter encoding of schema 2.1, Beam arguments, artifact hand-over
through executor_output.json) is what the cluster would execute. Every example is accounted for along the
chain, counted here from the files each stage wrote, not from what the stages report about themselves.
"""

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.utils import io_utils, path_utils

from components.audio_example_gen import executor as example_gen
from components.audio_example_gen.executor_test import _tiny_fma_dataset
from components.formats import QUARANTINE_FILE, SPLITS, SUMMARY_FILE, push
from components.formats import examples as example_format
from components.formats.blessing import read_decision
from components.keras_trainer import trainer as keras_trainer
from components.spectrogram_transform.executor_test import audio_schema
from pipeline.deploy.kubeflow_runner import compile_pipeline
from tests.helpers import factories
from tests.helpers.keras_trainer import SMALL_OVERRIDES
from tests.kubeflow_compile_test import cloud_config, executor_of

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
# The tasks run, in the order of the DAG; each takes its inputs from the tasks the compiled spec wires it to.
# A new component downstream is one more id here (and its checks below), once every producer its compiled
# inputs name is in `produced`.
CHAIN = [
    "AudioExampleGen",
    "StatisticsGen",
    "ExampleValidator",
    "SpectrogramTransform",
    "Trainer",
    "SklearnBaselineTrainer",
    "Evaluator",
    "Pusher",
    "RunReporter",
]
FMA_SPLITS = {"training": "train", "validation": "eval", "test": "test"}  # FMA's set.split -> our split names


def runtime_artifact(name, uri, artifact_type, metadata=None):
    return {
        "name": f"projects/0/locations/local/metadataStores/default/artifacts/{name}",
        "uri": uri,
        "type": artifact_type,
        "metadata": metadata or {},
    }


def executor_input(spec, component_id, inputs, root):
    """What the driver hands the container: the task's constant parameters, the upstream artifacts, and
    output artifacts under the pipeline root, all typed as the compiled component declares."""
    task = spec["root"]["dag"]["tasks"][component_id]
    component = spec["components"][task["componentRef"]["name"]]
    parameters = {name: p["runtimeValue"]["constant"] for name, p in task["inputs"].get("parameters", {}).items()}
    artifacts = {}
    for name, definition in component.get("inputDefinitions", {}).get("artifacts", {}).items():
        upstream = dict(inputs[name])
        upstream["type"] = definition["artifactType"]
        artifacts[name] = {"artifacts": [upstream]}
    outputs = {
        name: {
            "artifacts": [
                runtime_artifact(
                    f"{component_id}-{name}", os.path.join(root, component_id, name), definition["artifactType"]
                )
            ]
        }
        for name, definition in component["outputDefinitions"]["artifacts"].items()
    }
    return {
        "inputs": {"parameterValues": parameters, "artifacts": artifacts},
        "outputs": {"artifacts": outputs, "outputFile": os.path.join(root, component_id, "executor_output.json")},
    }


def run_entrypoint(spec, component_id, invocation, workdir):
    """The container's command and arguments from the spec, `{{$}}` replaced by the executor input."""
    container = executor_of(spec, component_id)[1]["container"]
    command = [sys.executable if part == "python" else part for part in container["command"]]
    args = [json.dumps(invocation) if arg == "{{$}}" else arg for arg in container["args"]]
    # What the image's ENV sets; nothing else of this process's environment is needed. PYTHONPATH: the image
    # installs this checkout's code, which the venv's editable install may not point at (a copy of the repo).
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(REPO),
        "TF_USE_LEGACY_KERAS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONWARNINGS": "ignore",
    }
    result = subprocess.run(command + args, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{component_id} failed:\n{result.stderr[-6000:]}"
    with open(invocation["outputs"]["outputFile"], encoding="utf-8") as f:
        output = json_format.Parse(f.read(), pipeline_spec_pb2.ExecutorOutput())
    return {name: json_format.MessageToDict(artifacts.artifacts[0]) for name, artifacts in output.artifacts.items()}


def run_task(spec, component_id, produced, local, root, workdir):
    """One task of the DAG: its artifacts from the producers its compiled inputs name, and every gs://
    location of its parameters replaced by the local one of `local`."""
    wiring = spec["root"]["dag"]["tasks"][component_id]["inputs"].get("artifacts", {})
    inputs = {
        name: produced[w["taskOutputArtifact"]["producerTask"]][w["taskOutputArtifact"]["outputArtifactKey"]]
        for name, w in wiring.items()
    }
    invocation = executor_input(spec, component_id, inputs, root)
    parameters = invocation["inputs"]["parameterValues"]
    for name, value in parameters.items():
        for remote, path in local.items():
            value = value.replace(remote, path) if isinstance(value, str) else value
        parameters[name] = value
    return invocation, run_entrypoint(spec, component_id, invocation, workdir)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("entrypoint")
    config = cloud_config(
        *SMALL_OVERRIDES,
        "transform.engineered_preset=quick",
        "beam.direct_num_workers=2",
        "trainer.epochs=2",
        # Two epochs on a few clips: bless whatever trains so the push runs; the thresholds are tested where
        # they bite (components/blessing_evaluator, tests/pipeline_e2e_test.py).
        "evaluator.accuracy_floor=0",
        "evaluator.baseline_margin=-1",
    )
    package = compile_pipeline(config, "kubeflow", str(tmp / "pipeline.yaml")).path
    with open(package, encoding="utf-8") as f:
        spec = next(yaml.safe_load_all(f))
    root, workdir = str(tmp / "pipeline_root"), tmp / "workdir"
    workdir.mkdir()

    audio_root, metadata_dir, expected = _tiny_fma_dataset(str(tmp / "data"))
    destination = str(tmp / "models")
    local = {config.audio_root: audio_root, config.metadata_dir: metadata_dir, config.push_destination: destination}

    schema_uri = os.path.join(root, "SchemaGen", "schema")
    io_utils.write_pbtxt_file(os.path.join(schema_uri, "schema.pbtxt"), audio_schema())
    produced = {"SchemaGen": {"schema": runtime_artifact("SchemaGen-schema", schema_uri, None)}}
    invocations = {}
    for component_id in CHAIN:
        invocations[component_id], produced[component_id] = run_task(spec, component_id, produced, local, root, workdir)
    return {
        "config": config,
        "invocations": invocations,
        "produced": produced,
        "expected": expected,
        "audio_root": audio_root,
        "metadata_dir": metadata_dir,
        "destination": destination,
        "root": root,
    }


def read_segments(examples_uri, split):
    """(track_id, segment_index, num_segments) of every record in the split's files, read back here."""
    segments = []
    for path in sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*"))):
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP" if path.endswith(".gz") else ""):
            feature = tf.train.Example.FromString(record.numpy()).features.feature
            segments.append(
                tuple(
                    feature[name].int64_list.value[0]
                    for name in (example_format.TRACK_ID, example_format.SEGMENT_INDEX, example_format.NUM_SEGMENTS)
                )
            )
    return segments


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def segments(chain):
    """{"raw" | "transformed": {split: segments read back from that stage's files}}, and the transform's
    quarantine as {split: [(track_id, segment_index)]}."""
    produced = chain["produced"]
    stages = {
        "raw": produced["AudioExampleGen"]["examples"]["uri"],
        "transformed": produced["SpectrogramTransform"]["transformed_examples"]["uri"],
    }
    counted = {stage: {split: read_segments(uri, split) for split in SPLITS} for stage, uri in stages.items()}
    quarantined = {split: [] for split in SPLITS}
    for record in read_jsonl(os.path.join(stages["transformed"], QUARANTINE_FILE)):
        quarantined[record["split"]].append((record["track_id"], record["segment_index"]))
    return {**counted, "quarantined": quarantined}


def transformed_counts(segments):
    return {split: len(segments["transformed"][split]) for split in SPLITS}


def test_audio_example_gen_writes_splits_and_reconciled_quarantine(chain):
    examples, root = chain["produced"]["AudioExampleGen"]["examples"], chain["root"]
    ingest = json.loads(chain["invocations"]["AudioExampleGen"]["inputs"]["parameterValues"]["ingest_config"])
    assert (ingest["audio_root"], ingest["metadata_dir"]) == (chain["audio_root"], chain["metadata_dir"])
    assert examples["uri"] == os.path.join(root, "AudioExampleGen", "examples")
    assert json.loads(examples["metadata"]["split_names"]) == list(SPLITS)
    for split in SPLITS:
        assert any(n.endswith(".gz") for n in os.listdir(os.path.join(examples["uri"], f"Split-{split}")))
    summary = read_json(os.path.join(examples["uri"], example_gen.SUMMARY_FILE))
    counts = summary["counts"]
    assert summary["reconciles"] is True
    assert counts["files_seen"] == counts["files_with_examples"] + counts["files_quarantined"]
    with open(os.path.join(examples["uri"], example_gen.QUARANTINE_FILE), encoding="utf-8") as f:
        quarantined = {os.path.relpath(json.loads(line)["path"], chain["audio_root"]) for line in f}
    assert quarantined == set(chain["expected"])


def test_every_clip_of_each_split_is_in_the_examples_with_all_its_segments(chain, segments):
    """The clips the dataset's metadata puts in each split, less the broken ones, are exactly the tracks of
    that split's records; each with every one of its segments, once; and the summary's counts are the files'."""
    broken = {int(Path(path).stem) for path in chain["expected"] if Path(path).stem.isdigit()}
    clips = {split: set() for split in SPLITS}
    for track_id, fma_split in factories.read_tracks(chain["metadata_dir"])[("set", "split")].items():
        if track_id not in broken:
            clips[FMA_SPLITS[fma_split]].add(int(track_id))
    raw = segments["raw"]
    assert {split: {track for track, _, _ in raw[split]} for split in SPLITS} == clips
    for split in SPLITS:
        by_track = {}
        for track, index, total in raw[split]:
            by_track.setdefault(track, []).append((index, total))
        for track, found in by_track.items():
            total = found[0][1]
            assert sorted(found) == [(i, total) for i in range(total)], (split, track)
    summary = read_json(os.path.join(chain["produced"]["AudioExampleGen"]["examples"]["uri"], SUMMARY_FILE))
    in_files = {split: len(raw[split]) for split in SPLITS}
    assert summary["examples_written"] == summary["examples_per_split"] == in_files


def test_spectrogram_transform_accounts_for_every_segment(chain, segments):
    transformed = chain["produced"]["SpectrogramTransform"]
    assert json.loads(transformed["transformed_examples"]["metadata"]["split_names"]) == list(SPLITS)
    assert os.path.exists(os.path.join(transformed["featurizer"]["uri"], "featurizer_settings.json"))
    for split in SPLITS:
        raw = [(track, index) for track, index, _ in segments["raw"][split]]
        out = [(track, index) for track, index, _ in segments["transformed"][split]]
        quarantined = segments["quarantined"][split]
        # Segments in = segments out + quarantined, as counts and as the very segments (none twice, none lost).
        assert len(raw) == len(out) + len(quarantined), split
        assert sorted(raw) == sorted(out + quarantined), split
        assert out, split


def test_trainer_exports_a_serving_model_and_trained_on_every_transformed_example(chain, segments):
    trained = chain["produced"]["Trainer"]
    model_dir = path_utils.serving_model_dir(trained["model"]["uri"])
    assert os.path.exists(os.path.join(model_dir, "saved_model.pb"))
    metrics = read_json(os.path.join(trained["model_run"]["uri"], keras_trainer.METRICS_FILE))
    assert metrics["model_family"] == "cnn2d_mel"
    assert metrics["training"]["epochs_run"] >= 1
    assert 0.0 <= metrics["eval"]["accuracy"] <= 1.0
    counts = transformed_counts(segments)
    assert metrics["examples"] == counts
    assert metrics["training"]["train_examples"] == counts["train"]
    assert (metrics["eval"]["examples"], metrics["test"]["examples"]) == (counts["eval"], counts["test"])
    baselines = read_json(os.path.join(chain["produced"]["SklearnBaselineTrainer"]["model"]["uri"], "metrics.json"))
    assert baselines["examples"] == counts


def test_evaluator_blesses_with_every_check_on_all_of_its_split(chain, segments):
    from components.blessing_evaluator.results import read_evaluation

    config, produced = chain["config"], chain["produced"]
    evaluated = produced["Evaluator"]
    evaluation = read_evaluation(evaluated["evaluation"]["uri"], config.genres)
    split = config.evaluator.example_split
    assert evaluation["overall"]["example_count"] == transformed_counts(segments)[split]

    decision = read_decision(evaluated["blessing"]["uri"])
    assert decision["blessed"] is True and decision["reasons"] == [] and decision["split"] == split
    assert decision["model_uri"] == produced["Trainer"]["model"]["uri"]
    assert evaluated["blessing"]["metadata"]["blessed"] == 1  # what the Pusher reads, handed over by KFP
    checks = {check["name"]: check for check in decision["checks"]}
    assert set(checks) == {"accuracy_floor", "no_regression", "beats_baselines"}
    assert checks["accuracy_floor"]["passed"] and checks["accuracy_floor"]["threshold"] == 0
    assert checks["accuracy_floor"]["measured"] == pytest.approx(evaluation["overall"]["accuracy"])
    # Kubeflow has no resolver: the previous model is the destination's newest version, and there is none yet.
    assert checks["no_regression"]["skipped"]
    assert checks["no_regression"]["detail"] == f"no blessed model before (nothing pushed to {chain['destination']})"
    best = read_json(os.path.join(produced["SklearnBaselineTrainer"]["model"]["uri"], "metrics.json"))
    assert checks["beats_baselines"]["passed"]
    assert checks["beats_baselines"]["baseline_algorithm"] == best["best_algorithm"]
    assert checks["beats_baselines"]["threshold"] == pytest.approx(best["best_test_accuracy"] - 1)


def test_pusher_pushes_the_trained_model_as_a_verified_version(chain, segments):
    produced, destination = chain["produced"], chain["destination"]
    pushed_model = produced["Pusher"]["pushed_model"]
    result = push.read_push_result(pushed_model["uri"])
    (version,) = push.list_versions(destination)
    assert result["pushed"] is True and result["already_pushed"] is False and result["destination"] == destination
    assert (result["version"], result["model_dir"]) == (version.version, version.model_dir)
    assert (pushed_model["metadata"]["pushed"], pushed_model["metadata"]["pushed_version"]) == (1, str(version.version))
    # The pushed files are the Trainer's serving model, byte for byte, and match the manifest's digest.
    trained = push.model_digest(path_utils.serving_model_dir(produced["Trainer"]["model"]["uri"]))
    assert push.verify_version(version) == trained == version.manifest["model_digest"]
    manifest = version.manifest
    assert manifest["source_model_uri"] == produced["Trainer"]["model"]["uri"]
    decision = read_decision(produced["Evaluator"]["blessing"]["uri"])
    assert manifest["blessing"] == decision and manifest["metrics"] == decision["metrics"]
    fingerprint = manifest["data_fingerprint"]
    assert fingerprint["examples_uri"] == produced["SpectrogramTransform"]["transformed_examples"]["uri"]
    assert fingerprint["examples_per_split"] == transformed_counts(segments)


def test_run_reporter_writes_the_runs_report_and_make_report_finds_it_under_the_pipeline_root(
    chain, segments, tmp_path
):
    """The report artifact of a run written the way Kubeflow writes it: its figures are the run's, and
    `make report RUN=<pipeline root>` / `make outputs RUN=<pipeline root>` find and show it."""
    from pipeline import cli
    from pipeline.report import main as report_main

    produced = chain["produced"]
    report = produced["RunReporter"]["report"]
    assert report["metadata"]["ok"] == 1 and report["metadata"]["blessed"] == 1
    summary = read_json(os.path.join(report["uri"], "summary.json"))
    assert read_json(os.path.join(report["uri"], "status.json"))["ok"] is True
    ledger = summary["ledger"]
    assert ledger["available"] and ledger["balanced"] is True, ledger["mismatches"]
    assert read_json(os.path.join(report["uri"], "ledger.json")) == ledger
    for split in SPLITS:  # the transform's row of each split counts what the test read back from its files
        rows = ledger["splits"][split]
        (transform_row,) = [
            r for r in rows if r["stage"] == "SpectrogramTransform" and r["what"].startswith("examples written")
        ]
        assert transform_row["count"] == len(segments["transformed"][split])
    assert set(summary["anomalies"]["by_split"]) == set(SPLITS) and summary["statistics"]["available"]
    (version,) = push.list_versions(chain["destination"])
    assert summary["push"]["version"] == version.version == int(report["metadata"]["version"])
    evaluation = read_evaluation_overall(produced["Evaluator"]["evaluation"]["uri"], chain["config"].genres)
    keras = next(row for row in summary["comparison"]["rows"] if row["keras"])
    assert keras["accuracy"] == pytest.approx(evaluation["accuracy"])
    assert report["metadata"]["keras_accuracy"] == pytest.approx(evaluation["accuracy"])

    overrides = ["--set", f"output_root={tmp_path}"]
    assert report_main([*overrides, "--run", chain["root"], "--output", str(tmp_path / "fetched")]) == 0
    with open(tmp_path / "fetched" / "report.html", encoding="utf-8") as f:
        assert "BLESSED" in f.read()
    assert cli.main(["outputs", *overrides, "--run", chain["root"]]) == 0


def read_evaluation_overall(uri, genres):
    from components.blessing_evaluator.results import read_evaluation

    return read_evaluation(uri, genres)["overall"]
