"""Finding a run's report: through a stand-in Kubeflow Pipelines v2beta1 API and a stand-in Vertex AI v1 API on
loopback (their documented JSON), and by searching a pipeline root; fetching and reading what was found."""

import json
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import pytest

from pipeline.deploy.remote_runs import RemoteRunError, fetch_report, read_summary, report_uri
from tests.helpers.loopback import closed_port, serve

SUMMARY = {"run_id": "run-42", "accuracy": 0.81, "blessed": True}
JOB = "fma-genre-20250101-120000"
JOB_NAME = f"projects/fma-project/locations/us-central1/pipelineJobs/{JOB}"


@contextmanager
def stand_in_api(routes):
    """An HTTP server on 127.0.0.1 answering GET path -> (status, JSON); records (path, Authorization header)."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?")[0]
            requests.append((path, self.headers.get("Authorization")))
            if path == "/apis/v2beta1/healthz":  # kfp.Client asks on construction
                status, reply = 200, {"multi_user": False}
            else:
                status, reply = routes.get(path, (404, {"error": {"code": 404, "message": "not found"}}))
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    with serve(Handler) as url:
        yield url, requests


def write_report(directory, ok=True):
    directory.mkdir(parents=True)
    (directory / "report.html").write_text("<html><body>report</body></html>")
    (directory / "summary.json").write_text(json.dumps(SUMMARY))
    (directory / "ledger.json").write_text(json.dumps({"entries": []}))
    (directory / "status.json").write_text(json.dumps({"ok": ok, "error": "" if ok else "Trainer: out of memory"}))
    return directory


def kfp_run(state="SUCCEEDED", tasks=None, pipeline_root="gs://fma-bucket/root"):
    """A v2beta1 Run as GET /apis/v2beta1/runs/{run_id} returns it (backend/api/v2beta1/run.proto)."""
    return {
        "run_id": "run-42",
        "display_name": "nightly",
        "experiment_id": "exp-7",
        "state": state,
        "storage_state": "AVAILABLE",
        "pipeline_spec": {"pipelineInfo": {"name": "fma-genre"}, "defaultPipelineRoot": pipeline_root},
        "runtime_config": {"pipeline_root": pipeline_root},
        "run_details": {
            "pipeline_context_id": "3",
            "pipeline_run_context_id": "4",
            "task_details": tasks if tasks is not None else [],
        },
    }


def kfp_task(name, state, outputs=None):
    task = {"run_id": "run-42", "task_id": f"{name}-id", "display_name": name, "state": state, "execution_id": "57"}
    return {**task, "outputs": outputs} if outputs is not None else task


def vertex_job(state="PIPELINE_STATE_SUCCEEDED", tasks=()):
    """A PipelineJob as GET .../v1/projects/*/locations/*/pipelineJobs/* returns it (aiplatform v1 pipeline_job)."""
    return {
        "name": f"projects/123456/locations/us-central1/pipelineJobs/{JOB}",
        "displayName": "fma-genre",
        "state": state,
        "runtimeConfig": {"gcsOutputDirectory": "gs://fma-bucket/root"},
        "jobDetail": {"taskDetails": list(tasks)},
    }


def vertex_task(name, state, uri=None):
    task = {"taskId": "7101", "taskName": name, "state": state}
    if uri:
        artifact = {"name": "projects/123456/locations/us-central1/metadataStores/default/artifacts/88", "uri": uri}
        task["outputs"] = {"report": {"artifacts": [{**artifact, "schemaTitle": "system.Artifact"}]}}
    return task


# -- Kubeflow Pipelines ----------------------------------------------------------------------------------------


def test_kfp_run_gives_the_artifact_uri_the_artifacts_api_records_and_it_is_fetched(tmp_path):
    report = write_report(tmp_path / "minio" / "RunReporter" / "report")
    tasks = [
        kfp_task("Trainer", "SUCCEEDED", {"model": {"artifact_ids": ["90"]}}),
        kfp_task("RunReporter-driver", "SUCCEEDED"),
        kfp_task("RunReporter", "SUCCEEDED", {"report": {"artifact_ids": ["91"]}}),
    ]
    artifact = {"artifact_id": "91", "uri": str(report), "artifact_type": "system.Artifact", "namespace": "kubeflow"}
    routes = {"/apis/v2beta1/runs/run-42": (200, kfp_run(tasks=tasks)), "/apis/v2beta1/artifacts/91": (200, artifact)}
    with stand_in_api(routes) as (host, requests):
        uri = report_uri("run-42", host=host)
    assert uri == str(report)
    assert [path for path, _ in requests if "healthz" not in path] == [
        "/apis/v2beta1/runs/run-42",
        "/apis/v2beta1/artifacts/91",
    ]
    fetched = fetch_report(uri, str(tmp_path / "local"))
    names = ("ledger.json", "report.html", "status.json", "summary.json")
    assert fetched == {name: str(tmp_path / "local" / name) for name in names}
    assert (tmp_path / "local" / "report.html").read_text() == "<html><body>report</body></html>"
    assert read_summary(str(tmp_path / "local")) == SUMMARY


@pytest.mark.parametrize("outputs", [None, {"report": {"artifact_ids": ["91"]}}])
def test_kfp_without_outputs_or_artifacts_api_falls_back_to_the_runs_directory(tmp_path, outputs):
    # KFP 2.x fills task_details from Argo nodes without outputs, and older backends have no artifacts API (the
    # stand-in answers 404). The launcher wrote <root>/<pipeline name>/<run id>/<task>/<salt>/<key>; another
    # run's report beside it must not count.
    root = tmp_path / "root"
    report = write_report(root / "fma-genre" / "run-42" / "RunReporter" / "5f1c0a" / "report")
    write_report(root / "fma-genre" / "run-41" / "RunReporter" / "77aa01" / "report")
    run = kfp_run(tasks=[kfp_task("RunReporter", "SUCCEEDED", outputs)], pipeline_root=str(root))
    with stand_in_api({"/apis/v2beta1/runs/run-42": (200, run)}) as (host, _):
        assert report_uri("run-42", host=host) == str(report)


def test_kfp_fallback_without_the_runs_directory_or_with_a_root_tensorflow_cannot_read(tmp_path):
    run = kfp_run(tasks=[kfp_task("RunReporter", "SUCCEEDED")], pipeline_root=str(tmp_path))
    minio = kfp_run(tasks=[kfp_task("RunReporter", "SUCCEEDED")], pipeline_root="minio://mlpipeline/v2/artifacts")
    routes = {"/apis/v2beta1/runs/run-42": (200, run), "/apis/v2beta1/runs/run-43": (200, minio)}
    with stand_in_api(routes) as (host, _):
        with pytest.raises(RemoteRunError) as missing:
            report_uri("run-42", host=host)
        with pytest.raises(RemoteRunError) as unreadable:
            report_uri("run-43", host=host)
    assert str(missing.value) == (
        f"{host} recorded no 'report' output of RunReporter in run run-42, and {tmp_path}/fma-genre/run-42 does "
        "not exist: pass the run's directory as RUN instead"
    )
    assert str(unreadable.value) == (
        "cannot read minio://mlpipeline/v2/artifacts/fma-genre/run-43: TensorFlow here reads only gs:// and local "
        "paths; copy the directory to one of those (for minio: `mc cp --recursive`) and pass that"
    )


def test_kfp_newer_backends_list_output_uris_in_the_task(tmp_path):
    outputs = {"artifacts": [{"artifact_key": "report", "artifacts": [{"artifact_id": "91", "uri": "gs://b/r"}]}]}
    run = kfp_run(tasks=[kfp_task("RunReporter", "SUCCEEDED", outputs)])
    with stand_in_api({"/apis/v2beta1/runs/run-42": (200, run)}) as (host, _):
        assert report_uri("run-42", host=host) == "gs://b/r"


def test_kfp_unknown_run():
    with stand_in_api({}) as (host, _):
        with pytest.raises(RemoteRunError) as error:
            report_uri("no-such-run", host=host)
    assert str(error.value) == f"no run no-such-run on {host}"


@pytest.mark.parametrize(
    "state, tasks, message",
    [
        ("RUNNING", [kfp_task("Trainer", "RUNNING")], "run run-42 is still RUNNING; try again when it has finished"),
        ("PENDING", [], "run run-42 is still PENDING; try again when it has finished"),
        (
            "FAILED",
            [kfp_task("Trainer", "FAILED")],
            "run run-42 ended FAILED before its report step: RunReporter did not run",
        ),
        (
            "CANCELED",
            [kfp_task("Trainer", "CANCELED"), kfp_task("RunReporter", "CANCELED")],
            "run run-42 ended CANCELED before its report step: RunReporter did not run (CANCELED)",
        ),
        (
            "FAILED",
            [kfp_task("RunReporter", "FAILED")],
            "run run-42 ended FAILED: its report step RunReporter failed; see that step's logs",
        ),
    ],
)
def test_kfp_unfinished_and_failed_runs_say_why_there_is_no_report(state, tasks, message):
    with stand_in_api({"/apis/v2beta1/runs/run-42": (200, kfp_run(state, tasks))}) as (host, _):
        with pytest.raises(RemoteRunError) as error:
            report_uri("run-42", host=host)
    assert str(error.value) == message


def test_kfp_unreachable_host_is_one_line_naming_the_host():
    host = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(RemoteRunError) as error:
        report_uri("run-42", host=host)
    message = str(error.value)
    assert message.startswith(f"cannot reach the Kubeflow Pipelines API at {host}: ")
    assert "Connection refused" in message and "\n" not in message


# -- Vertex AI -------------------------------------------------------------------------------------------------


def test_vertex_job_gives_the_reporters_output_uri_and_it_is_fetched(tmp_path, monkeypatch):
    import google.auth

    # A loopback endpoint is asked anonymously: Application Default Credentials are never looked up.
    monkeypatch.setattr(google.auth, "default", lambda **_: pytest.fail("looked up credentials"))
    report = write_report(tmp_path / "gcs" / "123456" / JOB / "RunReporter_7101" / "report", ok=False)
    tasks = [vertex_task("fma-genre", "SUCCEEDED"), vertex_task("RunReporter", "SUCCEEDED", str(report))]
    with stand_in_api({f"/v1/{JOB_NAME}": (200, vertex_job(tasks=tasks))}) as (endpoint, requests):
        by_id = report_uri(JOB, project="fma-project", region="us-central1", api_endpoint=endpoint)
        by_name = report_uri(JOB_NAME, api_endpoint=endpoint)
    assert by_id == by_name == str(report)
    assert requests == [(f"/v1/{JOB_NAME}", None)] * 2
    # A report of a failed run is fetched all the same: its status.json says what went wrong.
    fetched = fetch_report(by_id, str(tmp_path / "local"))
    assert sorted(fetched) == ["ledger.json", "report.html", "status.json", "summary.json"]
    assert json.loads((tmp_path / "local" / "status.json").read_text()) == {
        "ok": False,
        "error": "Trainer: out of memory",
    }


@pytest.mark.parametrize(
    "state, tasks, message",
    [
        ("PIPELINE_STATE_RUNNING", [], f"run {JOB} is still RUNNING; try again when it has finished"),
        ("PIPELINE_STATE_QUEUED", [], f"run {JOB} is still QUEUED; try again when it has finished"),
        (
            "PIPELINE_STATE_FAILED",
            [vertex_task("Trainer", "FAILED"), vertex_task("RunReporter", "NOT_TRIGGERED")],
            f"run {JOB} ended FAILED before its report step: RunReporter did not run (NOT_TRIGGERED)",
        ),
    ],
)
def test_vertex_unfinished_and_failed_jobs_say_why_there_is_no_report(state, tasks, message):
    with stand_in_api({f"/v1/{JOB_NAME}": (200, vertex_job(state, tasks))}) as (endpoint, _):
        with pytest.raises(RemoteRunError) as error:
            report_uri(JOB, project="fma-project", region="us-central1", api_endpoint=endpoint)
    assert str(error.value) == message


def test_vertex_unknown_job():
    with stand_in_api({}) as (endpoint, _):
        with pytest.raises(RemoteRunError) as error:
            report_uri("nope", project="fma-project", region="us-central1", api_endpoint=endpoint)
    assert str(error.value) == "no run nope on Vertex AI in project fma-project, region us-central1"


def test_vertex_without_credentials_says_how_to_log_in(monkeypatch):
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def no_credentials(**_):
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    with pytest.raises(RemoteRunError) as error:
        report_uri(JOB, project="fma-project", region="us-central1")
    assert str(error.value).startswith(
        "no Google Cloud credentials found: run `gcloud auth application-default login`, or set "
        "GOOGLE_APPLICATION_CREDENTIALS"
    )


def test_half_a_vertex_address_or_two_targets_are_refused():
    with pytest.raises(RemoteRunError, match=r"^a Vertex AI run needs both a project and a region"):
        report_uri(JOB, project="fma-project")
    with pytest.raises(RemoteRunError, match=r"^pass either a Kubeflow host or a Vertex project and region"):
        report_uri(JOB, host="http://127.0.0.1:1", project="fma-project", region="us-central1")


# -- a pipeline root -------------------------------------------------------------------------------------------


def test_pipeline_root_with_one_report(tmp_path):
    # The local layout: <root>/<component>/<key>/<execution id>; an unfinished execution has no summary.json.
    root = tmp_path / "root"
    report = write_report(root / "RunReporter" / "report" / "12")
    (root / "RunReporter" / "report" / "11").mkdir()
    (root / "RunReporter" / ".system" / "executor_execution" / "12").mkdir(parents=True)
    write_report(root / "Trainer" / "report" / "9")  # a `report` directory, but not RunReporter's
    assert report_uri(str(root)) == str(report)
    assert report_uri(f"file://{root}/") == str(report)


def test_pipeline_root_without_a_report(tmp_path):
    (tmp_path / "root" / "Trainer" / "model" / "3").mkdir(parents=True)
    with pytest.raises(RemoteRunError) as error:
        report_uri(str(tmp_path / "root"))
    assert str(error.value) == (
        f"RunReporter wrote no report under {tmp_path / 'root'}: no report/ directory with summary.json below a "
        "RunReporter directory; check the root, or whether the run got as far as its report step"
    )


def test_pipeline_root_with_several_reports_lists_five_and_asks_for_a_narrower_root(tmp_path):
    root = tmp_path / "root"
    reports = [str(write_report(root / "123456" / f"job-{i}" / f"RunReporter_{i}" / "report")) for i in range(7)]
    with pytest.raises(RemoteRunError) as error:
        report_uri(str(root))
    assert str(error.value) == (
        f"7 RunReporter reports under {root}: {', '.join(reports[:5])} and 2 more; "
        "pass a narrower root (one run's directory)"
    )


def test_a_missing_root_says_so(tmp_path):
    with pytest.raises(RemoteRunError) as error:
        report_uri(str(tmp_path / "nowhere"))
    assert str(error.value) == (
        f"{tmp_path / 'nowhere'} does not exist: pass a run's pipeline root (gs://... or a local directory)"
    )


# -- fetching and reading --------------------------------------------------------------------------------------


def test_fetch_report_copies_every_top_level_file_and_no_directory(tmp_path):
    report = write_report(tmp_path / "report")
    (report / "confusion.png").write_bytes(b"\x89PNG")
    (report / "charts").mkdir()
    (report / "charts" / "loss.svg").write_text("<svg/>")
    fetched = fetch_report(f"file://{report}", str(tmp_path / "out"))
    assert sorted(fetched) == ["confusion.png", "ledger.json", "report.html", "status.json", "summary.json"]
    assert (tmp_path / "out" / "confusion.png").read_bytes() == b"\x89PNG"
    assert not (tmp_path / "out" / "charts").exists()


def test_fetch_report_of_an_empty_or_missing_artifact(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RemoteRunError, match=r"empty holds no files: RunReporter wrote nothing there"):
        fetch_report(str(tmp_path / "empty"), str(tmp_path / "out"))
    with pytest.raises(RemoteRunError, match=r"gone is not a directory: pass the URI of RunReporter's 'report'"):
        fetch_report(str(tmp_path / "gone"), str(tmp_path / "out"))


def test_read_summary_missing_or_invalid(tmp_path):
    (tmp_path / "summary.json").write_text('{"accuracy": 0.8')
    with pytest.raises(RemoteRunError) as error:
        read_summary(str(tmp_path))
    assert str(error.value) == (
        f"{tmp_path}/summary.json is not valid JSON (Expecting ',' delimiter at line 1): it was cut short; "
        "rerun the report step"
    )
    (tmp_path / "summary.json").write_text("[1, 2]")
    with pytest.raises(RemoteRunError, match=r"holds a JSON list, not an object"):
        read_summary(str(tmp_path))
    with pytest.raises(RemoteRunError) as error:
        read_summary(str(tmp_path / "none"))
    assert str(error.value) == (
        f"{tmp_path}/none/summary.json does not exist: RunReporter wrote no summary; see status.json beside it"
    )


# -- the commands: `make outputs` / `make report` with a remote RUN ------------------------------------------


def real_report(directory, config):
    """The files the RunReporter's executor writes, here for a run whose artifacts it could not find."""
    from components.run_reporter.collect import RunOutputs
    from components.run_reporter.executor import ReportedRun, write_report_files
    from pipeline.component_settings import report_settings

    status = write_report_files(report_settings(config), RunOutputs({}, ReportedRun("run-42", "now")), str(directory))
    assert status["ok"], status
    return directory


def test_outputs_of_a_kubeflow_run_prints_its_reports_summary_as_for_a_local_run(tmp_path, capsys):
    from components.run_reporter import summary
    from pipeline import cli
    from pipeline.config import load_config

    config = load_config(overrides=[f"output_root={tmp_path / 'runs'}"])
    report = real_report(tmp_path / "minio" / "RunReporter" / "report", config)
    tasks = [kfp_task("RunReporter", "SUCCEEDED", {"report": {"artifact_ids": ["91"]}})]
    routes = {
        "/apis/v2beta1/runs/run-42": (200, kfp_run(tasks=tasks)),
        "/apis/v2beta1/artifacts/91": (200, {"artifact_id": "91", "uri": str(report)}),
    }
    with stand_in_api(routes) as (host, _):
        assert (
            cli.main(["outputs", "--set", f"output_root={tmp_path / 'runs'}", "--run", "run-42", "--host", host]) == 0
        )
    printed = capsys.readouterr().out
    expected = summary.text(json.loads((report / "summary.json").read_text()))
    assert printed.strip() == expected.strip() and "Run:             run-42 (reported now, complete)" in printed


def test_report_of_a_pipeline_root_fetches_the_html_and_a_failed_report_step_exits_1(tmp_path, capsys):
    from pipeline.config import load_config
    from pipeline.report import main

    overrides = ["--set", f"output_root={tmp_path / 'runs'}"]
    config = load_config(overrides=[f"output_root={tmp_path / 'runs'}"])
    real_report(tmp_path / "root" / "123" / "job-1" / "RunReporter_77" / "report", config)
    assert main([*overrides, "--run", str(tmp_path / "root" / "123" / "job-1")]) == 0
    fetched = tmp_path / "runs" / config.pipeline_name / "reports" / "job-1" / "report.html"
    assert f"Run report: {fetched}" in capsys.readouterr().out
    assert "NO DECISION" in fetched.read_text()

    write_report(tmp_path / "failed" / "RunReporter" / "report", ok=False)
    assert main([*overrides, "--run", str(tmp_path / "failed"), "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "error: the run's report step failed (Trainer: out of memory)" in err
    assert (tmp_path / "out" / "status.json").exists()
    assert main([*overrides, "--run", "run-9", "--host", f"http://127.0.0.1:{closed_port()}"]) == 2
    assert "error: " in capsys.readouterr().err
