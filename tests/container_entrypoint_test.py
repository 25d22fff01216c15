"""The compiled spec, run: AudioExampleGen -> SpectrogramTransform -> Trainer through the container entrypoint
each executor of the Kubeflow YAML names (tfx...kubeflow_v2_run_executor), with the command line, parameters
and artifact types taken from the compiled file and an executor input built the way the KFP driver builds it.

The strongest check, without a cluster, that the spec would run: only the dataset location changes (the spec
reads gs://, the test's tiny dataset is local) and the schema stands in for StatisticsGen + SchemaGen.
Everything else (executor classes, parameter encoding of schema 2.1, Beam arguments, artifact hand-over
through executor_output.json) is what the cluster would execute.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.utils import io_utils, path_utils

from components.audio_example_gen import executor as example_gen
from components.audio_example_gen.executor_test import _tiny_fma_dataset
from components.keras_trainer import trainer as keras_trainer
from components.spectrogram_transform.executor_test import audio_schema
from pipeline.deploy.kubeflow_runner import compile_pipeline
from tests.helpers.keras_trainer import SMALL_OVERRIDES
from tests.kubeflow_compile_test import cloud_config, executor_of

pytestmark = pytest.mark.slow

SPLITS = ["train", "eval", "test"]


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
    # What the image's ENV sets; nothing else of this process's environment is needed.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "TF_USE_LEGACY_KERAS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONWARNINGS": "ignore",
    }
    result = subprocess.run(command + args, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{component_id} failed:\n{result.stderr[-6000:]}"
    with open(invocation["outputs"]["outputFile"], encoding="utf-8") as f:
        output = json_format.Parse(f.read(), pipeline_spec_pb2.ExecutorOutput())
    return {name: json_format.MessageToDict(artifacts.artifacts[0]) for name, artifacts in output.artifacts.items()}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("entrypoint")
    config = cloud_config(
        *SMALL_OVERRIDES, "transform.engineered_preset=quick", "beam.direct_num_workers=2", "trainer.epochs=2"
    )
    package = compile_pipeline(config, "kubeflow", str(tmp / "pipeline.yaml")).path
    with open(package, encoding="utf-8") as f:
        spec = next(yaml.safe_load_all(f))
    root, workdir = str(tmp / "pipeline_root"), tmp / "workdir"
    workdir.mkdir()

    audio_root, metadata_dir, expected = _tiny_fma_dataset(str(tmp / "data"))
    invocation = executor_input(spec, "AudioExampleGen", {}, root)
    ingest = json.loads(invocation["inputs"]["parameterValues"]["ingest_config"])
    assert (ingest["audio_root"], ingest["metadata_dir"]) == (config.audio_root, config.metadata_dir)
    ingest.update(audio_root=audio_root, metadata_dir=metadata_dir)  # the one change: where the data lies
    invocation["inputs"]["parameterValues"]["ingest_config"] = json.dumps(ingest)
    examples = run_entrypoint(spec, "AudioExampleGen", invocation, workdir)["examples"]

    schema_uri = os.path.join(root, "SchemaGen", "schema")
    io_utils.write_pbtxt_file(os.path.join(schema_uri, "schema.pbtxt"), audio_schema())
    schema = runtime_artifact("SchemaGen-schema", schema_uri, None)
    transformed = run_entrypoint(
        spec,
        "SpectrogramTransform",
        executor_input(spec, "SpectrogramTransform", {"examples": examples, "schema": schema}, root),
        workdir,
    )

    trained = run_entrypoint(
        spec,
        "Trainer",
        executor_input(
            spec,
            "Trainer",
            {
                "examples": transformed["transformed_examples"],
                "transform_graph": transformed["featurizer"],
                "schema": schema,
            },
            root,
        ),
        workdir,
    )
    return {
        "examples": examples,
        "transformed": transformed,
        "trained": trained,
        "expected": expected,
        "audio_root": audio_root,
        "root": root,
    }


def test_audio_example_gen_writes_splits_and_reconciled_quarantine(chain):
    examples, root = chain["examples"], chain["root"]
    assert examples["uri"] == os.path.join(root, "AudioExampleGen", "examples")
    assert json.loads(examples["metadata"]["split_names"]) == SPLITS
    for split in SPLITS:
        assert any(n.endswith(".gz") for n in os.listdir(os.path.join(examples["uri"], f"Split-{split}")))
    with open(os.path.join(examples["uri"], example_gen.SUMMARY_FILE), encoding="utf-8") as f:
        summary = json.load(f)
    counts = summary["counts"]
    assert summary["reconciles"] is True
    assert counts["files_seen"] == counts["files_with_examples"] + counts["files_quarantined"]
    with open(os.path.join(examples["uri"], example_gen.QUARANTINE_FILE), encoding="utf-8") as f:
        quarantined = {os.path.relpath(json.loads(line)["path"], chain["audio_root"]) for line in f}
    assert quarantined == set(chain["expected"])


def test_spectrogram_transform_hands_examples_and_featurizer_downstream(chain):
    transformed = chain["transformed"]
    assert json.loads(transformed["transformed_examples"]["metadata"]["split_names"]) == SPLITS
    featurizer = transformed["featurizer"]["uri"]
    assert os.path.exists(os.path.join(featurizer, "featurizer_settings.json"))


def test_trainer_exports_a_serving_model_and_metrics(chain):
    trained = chain["trained"]
    model_dir = path_utils.serving_model_dir(trained["model"]["uri"])
    assert os.path.exists(os.path.join(model_dir, "saved_model.pb"))
    with open(os.path.join(trained["model_run"]["uri"], keras_trainer.METRICS_FILE), encoding="utf-8") as f:
        metrics = json.load(f)
    assert metrics["model_family"] == "cnn2d_mel"
    assert metrics["training"]["epochs_run"] >= 1 and metrics["eval"]["examples"] > 0
    assert 0.0 <= metrics["eval"]["accuracy"] <= 1.0
