"""Finds the run report of a pipeline run on Kubeflow Pipelines, Vertex AI or under a pipeline root, and fetches it.

The RunReporter component (the pipeline's last step) has one output artifact, "report": a directory holding
report.html, summary.json, ledger.json and status.json. Where it lies depends on the orchestrator, so it is asked
for rather than guessed:

- Kubeflow Pipelines (v2beta1 REST API, through kfp.Client's API client so submit.py's authentication applies):
  the run's `run_details.task_details[]` entry of the RunReporter, its `outputs.report.artifact_ids`, then
  `GET /apis/v2beta1/artifacts/{id}` for the `uri`. KFP 2.x backends record no task outputs for runs they read
  from Argo, and older ones have no artifacts API: then the run's directory under its pipeline root
  (`<pipeline_root>/<pipeline name>/<run id>`, the launcher's layout) is searched.
- Vertex AI (v1 REST API, Application Default Credentials): the job's `jobDetail.taskDetails[]` entry with
  `taskName` RunReporter, its `outputs.report.artifacts[0].uri`.
- Otherwise the run is a pipeline root (gs://, a local directory or file://), searched with tf.io.gfile.

TensorFlow, kfp and google-auth are imported inside the functions: importing this module must stay fast.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Optional
from urllib.parse import quote, urlsplit

from components.formats import REPORT_HTML, REPORT_LEDGER, REPORT_STATUS, REPORT_SUMMARY

REPORTER = "RunReporter"  # the component id pipeline.py gives it
REPORT_KEY = "report"
REPORT_FILES = (REPORT_HTML, REPORT_SUMMARY, REPORT_LEDGER, REPORT_STATUS)  # fetch_report copies any other too
MAX_LISTED = 5
SEARCH_DEPTH = 12  # directories below the root; the deepest layout (KFP) needs 5 from the pipeline root
TIMEOUT_S = 60
# Run states after which nothing more happens, and task states whose report artifact exists. SKIPPED is a cache
# hit: the task's outputs are the earlier run's artifacts.
_KFP_FINISHED = {"SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"}
_VERTEX_FINISHED = {"SUCCEEDED", "FAILED", "CANCELLED"}
_TASK_DONE = {"SUCCEEDED", "SKIPPED"}
_VERTEX_JOB = re.compile(r"projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/pipelineJobs/(?P<job>[^/]+)")
_CLOUD_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class RemoteRunError(ValueError):
    """A run whose report cannot be found or read; the one-line message says why and what to do."""


def report_uri(
    run: str,
    *,
    host: Optional[str] = None,
    project: Optional[str] = None,
    region: Optional[str] = None,
    api_endpoint: Optional[str] = None,
) -> str:
    """The URI of the RunReporter's "report" artifact of `run`: a KFP run id (with `host`), a Vertex PipelineJob
    id or resource name (with `project` and `region`; a full resource name needs neither), or a pipeline root."""
    if host and (project or region):
        raise RemoteRunError("pass either a Kubeflow host or a Vertex project and region, not both")
    if host:
        return _kfp_report_uri(run, host.rstrip("/"))
    if (project and region) or _VERTEX_JOB.fullmatch(run.strip("/")):
        return _vertex_report_uri(run.strip("/"), project, region, api_endpoint)
    if project or region:
        raise RemoteRunError("a Vertex AI run needs both a project and a region: pass PROJECT=... REGION=...")
    return _search_root(run)


def fetch_report(uri: str, dest_dir: str) -> dict[str, str]:
    """Copy the report artifact's top-level files into `dest_dir`; returns file name -> local path. A report
    whose status.json says not ok is fetched all the same: it says what went wrong."""
    import tensorflow as tf

    uri = _readable(tf, uri)
    if not tf.io.gfile.isdir(uri):
        raise RemoteRunError(f"{uri} is not a directory: pass the URI of {REPORTER}'s {REPORT_KEY!r} artifact")
    os.makedirs(dest_dir, exist_ok=True)
    fetched = {}
    for name in sorted(_files(tf.io.gfile, uri)):
        source, target = _join(uri, name), os.path.join(dest_dir, name)
        try:
            tf.io.gfile.copy(source, target, overwrite=True)
        except tf.errors.OpError as e:
            raise RemoteRunError(f"cannot copy {source}: {_first_line(e.message)}") from e
        fetched[name] = target
    if not fetched:
        raise RemoteRunError(f"{uri} holds no files: {REPORTER} wrote nothing there; see that step's logs")
    return fetched


def read_summary(uri: str) -> dict:
    """The report's summary.json (from the artifact's URI or a directory fetch_report filled)."""
    import tensorflow as tf

    path = _join(_readable(tf, uri), REPORT_SUMMARY)
    try:
        with tf.io.gfile.GFile(path) as f:
            text = f.read()
    except tf.errors.NotFoundError as e:
        raise RemoteRunError(f"{path} does not exist: {REPORTER} wrote no summary; see status.json beside it") from e
    except tf.errors.OpError as e:
        raise RemoteRunError(f"cannot read {path}: {_first_line(e.message)}") from e
    try:
        summary = json.loads(text)
    except json.JSONDecodeError as e:
        raise RemoteRunError(
            f"{path} is not valid JSON ({e.msg} at line {e.lineno}): it was cut short; rerun the report step"
        ) from e
    if not isinstance(summary, dict):
        raise RemoteRunError(f"{path} holds a JSON {type(summary).__name__}, not an object: not a run summary")
    return summary


# -- finished or not, and did the report step run -------------------------------------------------------------


def _check_outcome(run: str, state: str, finished: set[str], task_state: Optional[str]) -> None:
    """Raise unless the run has finished and its RunReporter task left a report. States are short names."""
    if state not in finished:
        raise RemoteRunError(f"run {run} is still {state}; try again when it has finished")
    if task_state in _TASK_DONE:
        return
    if task_state is None and state == "SUCCEEDED":
        raise RemoteRunError(
            f"run {run} SUCCEEDED without a {REPORTER} step: it was compiled from a pipeline without the report "
            "component; submit the current pipeline"
        )
    if task_state == "FAILED":
        raise RemoteRunError(f"run {run} ended {state}: its report step {REPORTER} failed; see that step's logs")
    seen = f" ({task_state})" if task_state else ""
    raise RemoteRunError(f"run {run} ended {state} before its report step: {REPORTER} did not run{seen}")


def _reporter_task(tasks: list[dict], name_keys: tuple[str, ...], state_of) -> Optional[dict]:
    """The RunReporter's task entry; of several (retries), one that finished."""
    # Argo names a retried pod's node "<task>(<attempt>)".
    mine = [t for t in tasks if any(_task_name(t.get(key)) == REPORTER.lower() for key in name_keys)]
    mine.sort(key=lambda t: state_of(t) not in _TASK_DONE)
    return mine[0] if mine else None


def _task_name(name: Any) -> str:
    return re.sub(r"\(\d+\)$", "", str(name or "")).lower()


# -- Kubeflow Pipelines ----------------------------------------------------------------------------------------


def _kfp_report_uri(run_id: str, host: str) -> str:
    api = _kfp_api_client(host)
    status, run = _kfp_get(api, host, f"/apis/v2beta1/runs/{quote(run_id, safe='')}")
    if status == 404:
        raise RemoteRunError(f"no run {run_id} on {host}")
    _kfp_require_ok(status, host, f"run {run_id}")
    state = run.get("state") or "PENDING"
    state = "PENDING" if state == "RUNTIME_STATE_UNSPECIFIED" else state
    tasks = (run.get("run_details") or {}).get("task_details") or []
    task = _reporter_task(tasks, ("display_name", "name"), _kfp_task_state)
    if tasks or state != "SUCCEEDED":  # a backend that lists no tasks at all still has the run's directory
        _check_outcome(run_id, state, _KFP_FINISHED, _kfp_task_state(task) if task else None)

    uri, artifact_ids = _kfp_report_output(task.get("outputs") if task else None)
    if uri:
        return uri
    if artifact_ids:
        status, artifact = _kfp_get(api, host, f"/apis/v2beta1/artifacts/{quote(artifact_ids[0], safe='')}")
        # 404/405/501: a backend without the artifacts API; the run's directory is searched instead.
        if status not in (404, 405, 501):
            _kfp_require_ok(status, host, f"artifact {artifact_ids[0]} of run {run_id}")
            if artifact.get("uri"):
                return artifact["uri"]
    spec = run.get("pipeline_spec") or {}
    spec = spec.get("pipeline_spec", spec)  # kfp.Client sends {pipeline_spec, platform_spec} with a platform spec
    root = (run.get("runtime_config") or {}).get("pipeline_root") or spec.get("defaultPipelineRoot", "")
    name = (spec.get("pipelineInfo") or {}).get("name", "")
    why = f"{host} recorded no {REPORT_KEY!r} output of {REPORTER} in run {run_id}"
    # The launcher writes outputs to <pipeline root>/<pipeline name>/<run id>/<task>[/<salt>]/<output key>.
    return _search_run_directory(why, root, [[name, run_id] if name else None, [run_id]])


def _kfp_report_output(outputs: Any) -> tuple[str, list[str]]:
    """(URI, artifact ids) of the "report" output as the task lists it: `{"report": {"artifact_ids": [...]}}`
    (KFP 2.x), or `{"artifacts": [{"artifact_key": "report", "artifacts": [{"uri": ...}]}]}` (newer backends)."""
    if not isinstance(outputs, dict):
        return "", []
    listed = outputs.get("artifacts")
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict) and entry.get("artifact_key") == REPORT_KEY:
            uri = ((entry.get("artifacts") or [{}])[0] or {}).get("uri")
            if uri:
                return uri, []
    report = outputs.get(REPORT_KEY)
    ids = report.get("artifact_ids") if isinstance(report, dict) else None
    return "", [str(i) for i in ids or []]


def _kfp_task_state(task: dict) -> str:
    state = task.get("state") or task.get("status") or ""
    return state if isinstance(state, str) else ""


def _kfp_api_client(host: str):
    """kfp.Client's API client, so the token, cookies, proxy and TLS settings are those submit.py uses."""
    import kfp
    import urllib3

    from pipeline.deploy.submit import _root_cause

    try:
        return kfp.Client(host=host)._run_api.api_client
    except (urllib3.exceptions.HTTPError, OSError, TimeoutError) as e:
        raise RemoteRunError(_unreachable(host, _root_cause(e))) from e


def _kfp_get(api, host: str, path: str) -> tuple[int, dict]:
    """(HTTP status, JSON body) of a GET; the raw JSON rather than kfp_server_api models, which reject the fields
    and shapes of backends newer than the installed client."""
    import kfp_server_api
    import urllib3

    from pipeline.deploy.submit import _root_cause

    try:
        body = api.call_api(
            path,
            "GET",
            response_type="object",
            auth_settings=["Bearer"],
            _return_http_data_only=True,
            _request_timeout=TIMEOUT_S,
        )
    except kfp_server_api.ApiException as e:
        return e.status or 0, {"message": _api_message(e.body) or e.reason}
    except (urllib3.exceptions.HTTPError, OSError, TimeoutError) as e:
        raise RemoteRunError(_unreachable(host, _root_cause(e))) from e
    return 200, body if isinstance(body, dict) else {}


def _kfp_require_ok(status: int, host: str, what: str) -> None:
    if status == 200:
        return
    hint = "; authenticate to the cluster (see docs/deploy.md)" if status in (401, 403) else ""
    raise RemoteRunError(f"the Kubeflow Pipelines API at {host} would not show {what}: HTTP {status}{hint}")


def _unreachable(host: str, cause: str) -> str:
    return (
        f"cannot reach the Kubeflow Pipelines API at {host}: {cause}. Check HOST; for a cluster without ingress, "
        "`kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80` and HOST=http://localhost:8080"
    )


def _api_message(body: Any) -> str:
    try:
        data = json.loads(body) if isinstance(body, (str, bytes)) else {}
    except ValueError:
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    message = (error.get("message") if isinstance(error, dict) else None) or (data or {}).get("message") or ""
    return _first_line(str(message))


# -- Vertex AI -------------------------------------------------------------------------------------------------


def _vertex_report_uri(run: str, project: Optional[str], region: Optional[str], api_endpoint: Optional[str]) -> str:
    match = _VERTEX_JOB.fullmatch(run)
    if match:
        name, project, region, job_id = run, match["project"], match["region"], match["job"]
    else:
        name, job_id = f"projects/{project}/locations/{region}/pipelineJobs/{run}", run
    base = (api_endpoint or f"https://{region}-aiplatform.googleapis.com").rstrip("/")
    base = base if "://" in base else f"https://{base}"
    job = _vertex_get(base, name, f"no run {job_id} on Vertex AI in project {project}, region {region}")

    state = str(job.get("state") or "PIPELINE_STATE_PENDING").removeprefix("PIPELINE_STATE_")
    state = "PENDING" if state == "UNSPECIFIED" else state
    tasks = (job.get("jobDetail") or {}).get("taskDetails") or []
    task = _reporter_task(tasks, ("taskName",), lambda t: t.get("state"))
    _check_outcome(job_id, state, _VERTEX_FINISHED, task.get("state") if task else None)
    artifacts = ((task.get("outputs") or {}).get(REPORT_KEY) or {}).get("artifacts") or []
    if artifacts and artifacts[0].get("uri"):
        return artifacts[0]["uri"]
    # Vertex writes artifacts under <gcsOutputDirectory>/<project number>/<job id>/<task>_<task id>/<key>.
    returned = _VERTEX_JOB.fullmatch(str(job.get("name", "")))
    number = returned["project"] if returned else project
    root = (job.get("runtimeConfig") or {}).get("gcsOutputDirectory", "")
    return _search_run_directory(
        f"Vertex AI recorded no {REPORT_KEY!r} output of {REPORTER} in run {job_id}",
        root,
        [[number, job_id], [job_id]],
    )


def _vertex_get(base: str, name: str, not_found: str) -> dict:
    import requests
    from google.auth import exceptions as auth_exceptions

    from pipeline.deploy.submit import _ADC_HELP, _root_cause

    session = _vertex_session(base)
    try:
        response = session.get(f"{base}/v1/{name}", timeout=TIMEOUT_S)
    except auth_exceptions.RefreshError as e:
        raise RemoteRunError(f"the Google Cloud credentials were refused ({_root_cause(e)}): {_ADC_HELP}") from e
    except (requests.RequestException, auth_exceptions.TransportError) as e:
        raise RemoteRunError(f"cannot reach Vertex AI at {base}: {_root_cause(e)}") from e
    status = response.status_code
    if status == 404:
        raise RemoteRunError(not_found)
    if status != 200:
        hint = f"; {_ADC_HELP}, as an account that may read pipeline jobs" if status in (401, 403) else ""
        message = _api_message(response.content) or response.reason
        raise RemoteRunError(f"Vertex AI would not show {name}: HTTP {status} {message}{hint}")
    try:
        job = response.json()
    except ValueError:
        job = None
    if not isinstance(job, dict):
        raise RemoteRunError(f"Vertex AI at {base} answered {name} with something other than a PipelineJob")
    return job


def _vertex_session(base: str):
    """An AuthorizedSession with Application Default Credentials; anonymous for a loopback http:// endpoint (a
    local stand-in of the API, as the tests use), which must also bypass any proxy set in the environment."""
    import google.auth
    from google.auth import exceptions as auth_exceptions
    from google.auth.transport.requests import AuthorizedSession

    from pipeline.deploy.submit import _ADC_HELP

    parts = urlsplit(base)
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        from google.auth.credentials import AnonymousCredentials

        session = AuthorizedSession(AnonymousCredentials())
        session.trust_env = False
        return session
    try:
        credentials, _ = google.auth.default(scopes=[_CLOUD_SCOPE])
    except auth_exceptions.DefaultCredentialsError as e:
        raise RemoteRunError(f"no Google Cloud credentials found: {_ADC_HELP}") from e
    return AuthorizedSession(credentials)


# -- searching a pipeline root ---------------------------------------------------------------------------------


def _search_run_directory(why: str, root: str, candidates: list[Optional[list[str]]]) -> str:
    """Search the run's own directory under `root` (the first candidate path that exists), not all of `root`."""
    import tensorflow as tf

    if not root:
        raise RemoteRunError(f"{why}, and the run names no pipeline root: pass the run's directory as RUN instead")
    paths = [_join(root, *parts) for parts in candidates if parts]
    for path in paths:
        if tf.io.gfile.isdir(_readable(tf, path)):
            return _search_root(path)
    raise RemoteRunError(f"{why}, and {paths[0]} does not exist: pass the run's directory as RUN instead")


def _search_root(root: str) -> str:
    """The one report directory under `root`: named `report` (Kubeflow, Vertex) or inside one (local runs:
    <root>/RunReporter/report/<execution id>), below a RunReporter directory, holding summary.json."""
    import tensorflow as tf

    root = _readable(tf, root).rstrip("/") or "/"
    if not tf.io.gfile.isdir(root):
        raise RemoteRunError(f"{root} does not exist: pass a run's pipeline root (gs://... or a local directory)")
    found = sorted(_report_dirs(tf, root))
    if len(found) == 1:
        return found[0]
    if not found:
        raise RemoteRunError(
            f"{REPORTER} wrote no report under {root}: no {REPORT_KEY}/ directory with {REPORT_SUMMARY} below a "
            f"{REPORTER} directory; check the root, or whether the run got as far as its report step"
        )
    listed = ", ".join(found[:MAX_LISTED]) + (f" and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else "")
    raise RemoteRunError(
        f"{len(found)} {REPORTER} reports under {root}: {listed}; pass a narrower root (one run's directory)"
    )


def _report_dirs(tf, root: str):
    stack = [(root, 0)]
    while stack:
        directory, depth = stack.pop()
        try:
            entries = tf.io.gfile.listdir(directory)
        except tf.errors.NotFoundError:  # removed while we walk: nothing to find there
            continue
        except tf.errors.OpError as e:
            raise RemoteRunError(f"cannot list {directory}: {_first_line(e.message)}") from e
        if REPORT_SUMMARY in entries and _is_report_dir(directory):
            yield directory
            continue
        if depth < SEARCH_DEPTH:
            subdirectories = _subdirectories(tf.io.gfile, directory, entries)
            stack += [(_join(directory, sub), depth + 1) for sub in subdirectories]


def _is_report_dir(directory: str) -> bool:
    parts = directory.rstrip("/").split("/")
    return REPORT_KEY in parts[-2:] and any(REPORTER in part for part in parts[:-1])


def _subdirectories(gfile, directory: str, entries: list[str]) -> list[str]:
    # Object stores list a subdirectory as "name/" (TensorFlow's GCS file system does); asking each entry
    # isdir() there would cost a request per file.
    if _is_remote(directory):
        return [e.rstrip("/") for e in entries if e.endswith("/")]
    return [e for e in entries if gfile.isdir(_join(directory, e))]


def _files(gfile, directory: str) -> list[str]:
    entries = gfile.listdir(directory)
    if _is_remote(directory):
        return [e for e in entries if not e.endswith("/")]
    return [e for e in entries if not gfile.isdir(_join(directory, e))]


# -- paths -----------------------------------------------------------------------------------------------------


def _is_remote(uri: str) -> bool:
    return "://" in uri


def _readable(tf, uri: str) -> str:
    """`uri` as tf.io.gfile takes it (file:// stripped); a scheme it cannot read (the minio:// of a default KFP
    install, s3:// without tensorflow-io) is an error rather than a directory that seems not to exist."""
    uri = uri[len("file://") :] if uri.startswith("file://") else uri
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    schemes = tf.io.gfile.get_registered_schemes()
    if scheme not in schemes:
        remote = ", ".join(f"{s}://" for s in sorted(schemes) if s not in ("", "file", "ram"))
        readable = " and ".join([remote, "local paths"] if remote else ["local paths"])
        raise RemoteRunError(
            f"cannot read {uri}: TensorFlow here reads only {readable}; copy the directory to one of those "
            "(for minio: `mc cp --recursive`) and pass that"
        )
    return uri


def _join(base: str, *parts: str) -> str:
    # Not os.path.join: it would not keep gs://bucket/ intact on every platform.
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def _first_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""
