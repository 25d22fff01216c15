"""Submission: what kfp.Client sends for our YAML (to a stand-in KFP API on loopback), and one-line errors for
no host, an unreachable host, a refusing API, and missing Google credentials."""

import json
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import pytest

from pipeline.deploy import cli as deploy_cli
from pipeline.deploy.kubeflow_runner import compile_pipeline
from pipeline.deploy.submit import SubmitError, submit_kubeflow, submit_vertex
from tests.helpers.loopback import closed_port, serve
from tests.kubeflow_compile_test import ROOT, cloud_config


@contextmanager
def kfp_api(refuse_runs_with=None):
    """A stand-in for the KFP v2beta1 REST API on 127.0.0.1: answers what kfp.Client asks, records requests."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            requests.append((self.command, self.path.split("?")[0], body))
            status, reply = 200, {}
            if self.path.startswith("/apis/v2beta1/healthz"):
                reply = {"multi_user": False}
            elif self.command == "POST" and self.path == "/apis/v2beta1/experiments":
                reply = {"experiment_id": "exp-7", "display_name": body["display_name"]}
            elif self.command == "POST" and self.path == "/apis/v2beta1/runs":
                status, reply = (
                    (refuse_runs_with, {"error": "denied"})
                    if refuse_runs_with
                    else (200, {"run_id": "run-42", "display_name": body["display_name"]})
                )
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    with serve(Handler) as url:
        yield url, requests


@pytest.fixture
def package(tmp_path):
    config = cloud_config(accelerator="gpu:nvidia-l4:1")
    return compile_pipeline(config, "kubeflow", str(tmp_path / "pipeline.yaml")).path


def test_kfp_client_sends_the_spec_the_platform_document_and_the_submit_settings(package):
    with kfp_api() as (host, requests):
        config = cloud_config(
            f"kubeflow.host={host}",
            "kubeflow.experiment=genre-runs",
            "kubeflow.run_name=nightly",
            "kubeflow.service_account=pipeline-runner",
        )
        run = submit_kubeflow(config, package)
    assert run == {"run_id": "run-42", "run_name": "nightly", "host": host, "url": f"{host}/#/runs/details/run-42"}
    experiment = next(body for method, path, body in requests if path == "/apis/v2beta1/experiments" and body)
    assert experiment["display_name"] == "genre-runs"
    body = next(body for method, path, body in requests if path == "/apis/v2beta1/runs")
    assert body["display_name"] == "nightly" and body["experiment_id"] == "exp-7"
    assert body["service_account"] == "pipeline-runner"
    assert body["runtime_config"]["pipeline_root"] == ROOT
    sent = body["pipeline_spec"]
    assert "Trainer" in sent["pipeline_spec"]["root"]["dag"]["tasks"]
    placement = sent["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["Trainer_executor"]
    assert placement["nodeSelector"]["labels"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}


def test_a_refusing_api_gives_its_status_and_what_to_do(package):
    with kfp_api(refuse_runs_with=403) as (host, _):
        with pytest.raises(
            SubmitError,
            match=rf"the Kubeflow Pipelines API at {host} refused the run: HTTP 403.*"
            r"authenticate",
        ):
            submit_kubeflow(cloud_config(f"kubeflow.host={host}"), package)


def test_an_unreachable_host_is_one_line_naming_the_host(package):
    host = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(SubmitError) as error:
        submit_kubeflow(cloud_config(f"kubeflow.host={host}"), package)
    message = str(error.value)
    assert message.startswith(f"cannot reach the Kubeflow Pipelines API at {host}: ")
    assert "Connection refused" in message and "\n" not in message


def test_no_host_and_no_package_say_what_to_pass(package, tmp_path, monkeypatch):
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    with pytest.raises(SubmitError, match=r"no Kubeflow Pipelines host: pass HOST=.*KF_PIPELINES_ENDPOINT"):
        submit_kubeflow(cloud_config(), package)
    with pytest.raises(SubmitError, match=r"does not exist: compile it first \(make compile-kubeflow\)"):
        submit_kubeflow(cloud_config("kubeflow.host=http://127.0.0.1:1"), str(tmp_path / "missing.yaml"))


def test_missing_google_credentials_say_how_to_log_in(tmp_path, monkeypatch):
    # A credentials file that does not exist stops google.auth before it would ask the GCE metadata server.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    config = cloud_config("vertex.project=fma-project")
    job = compile_pipeline(config, "vertex", str(tmp_path / "pipeline.json")).path
    with pytest.raises(
        SubmitError,
        match=r"no Google Cloud credentials found: run `gcloud auth "
        r"application-default login`",
    ):
        submit_vertex(config, job)


def test_vertex_needs_a_project(tmp_path):
    from google.auth.credentials import AnonymousCredentials

    config = cloud_config()
    job = compile_pipeline(config, "vertex", str(tmp_path / "pipeline.json")).path
    with pytest.raises(SubmitError, match=r"Vertex AI needs vertex.project: pass PROJECT=... REGION=..."):
        submit_vertex(config, job, credentials=AnonymousCredentials())


def test_command_line_reports_submit_errors_on_one_line(tmp_path, capsys):
    args = [
        "submit-kubeflow",
        "--host",
        f"http://127.0.0.1:{closed_port()}",
        "--output",
        str(tmp_path / "p.yaml"),
        "--image",
        "registry.example/fma:1",
        "--pipeline-root",
        ROOT,
        "--set",
        "dataset.audio_root=gs://fma-bucket/fma_small",
        "--set",
        "dataset.metadata_dir=gs://fma-bucket/fma_metadata",
        "--set",
        "pusher.destination=gs://fma-bucket/models/fma-genre",
    ]
    assert deploy_cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: cannot reach the Kubeflow Pipelines API at http://127.0.0.1:")


def test_a_submitted_run_says_how_to_review_it_when_it_has_finished(tmp_path, capsys):
    with kfp_api() as (host, _):
        args = ["submit-kubeflow", "--host", host, "--output", str(tmp_path / "p.yaml"), "--image", "r.example/fma:1"]
        args += ["--pipeline-root", ROOT, "--set", "dataset.audio_root=gs://fma-bucket/fma_small"]
        args += ["--set", "dataset.metadata_dir=gs://fma-bucket/fma_metadata"]
        args += ["--set", "pusher.destination=gs://fma-bucket/models/fma-genre"]
        assert deploy_cli.main(args) == 0
    out = capsys.readouterr().out
    review = f"RUN=run-42 HOST={host}"
    assert f"When it has finished: make outputs {review}  (its summary), make report {review}" in out
