"""Submits a compiled pipeline: Kubeflow Pipelines v2 through kfp.Client, Vertex AI through aiplatform.PipelineJob.

Submission settings (host, experiment, run name, service account, network, encryption key) are passed at
submit time and never written into the compiled file; credentials come from the environment (kubeconfig /
KF_PIPELINES_* variables for Kubeflow, Application Default Credentials for Vertex). Failures that are the
user's to fix (no host, unreachable host, no credentials) become one `SubmitError` line saying what to do.
"""

from __future__ import annotations

import datetime
import os
from typing import Any, Optional

from pipeline.config import PipelineConfig

KFP_ENDPOINT_ENV = "KF_PIPELINES_ENDPOINT"
_ADC_HELP = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account "
    "key file, or run where a service account is attached"
)


class SubmitError(RuntimeError):
    """A submission that cannot proceed; the message says what to change."""


def default_run_name(config: PipelineConfig) -> str:
    return f"{config.pipeline_name}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}"


def submit_kubeflow(config: PipelineConfig, package_path: str) -> dict[str, str]:
    """Create a run of the compiled YAML; returns its run id and, when the host has a UI, the run's URL."""
    import kfp
    import kfp_server_api
    import urllib3

    host = config.kubeflow.host or os.environ.get(KFP_ENDPOINT_ENV, "")
    if not host:
        raise SubmitError(
            f"no Kubeflow Pipelines host: pass HOST=https://<host>/pipeline on the make line, or set "
            f"kubeflow.host or ${KFP_ENDPOINT_ENV}"
        )
    _require_file(package_path, "make compile-kubeflow")
    run_name = config.kubeflow.run_name or default_run_name(config)
    try:
        client = kfp.Client(host=host, namespace=config.kubeflow.namespace or "kubeflow")
        result = client.create_run_from_pipeline_package(
            package_path,
            arguments={},
            run_name=run_name,
            experiment_name=config.kubeflow.experiment,
            namespace=config.kubeflow.namespace or None,
            pipeline_root=config.deploy.pipeline_root,
            service_account=config.kubeflow.service_account or None,
        )
    except (urllib3.exceptions.HTTPError, OSError, TimeoutError) as e:
        raise SubmitError(
            f"cannot reach the Kubeflow Pipelines API at {host}: {_root_cause(e)}. Check HOST; for a "
            "cluster without ingress, `kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80` "
            "and HOST=http://localhost:8080"
        ) from e
    except kfp_server_api.ApiException as e:
        raise SubmitError(
            f"the Kubeflow Pipelines API at {host} refused the run: HTTP {e.status} {e.reason}{_auth_hint(e.status)}"
        ) from e
    return {
        "run_id": result.run_id,
        "run_name": run_name,
        "host": host,
        "url": f"{host.rstrip('/')}/#/runs/details/{result.run_id}",
    }


def vertex_job(config: PipelineConfig, template_path: str, credentials: Any = None):
    """The aiplatform.PipelineJob for the compiled JSON; constructing it contacts nothing."""
    from google.cloud import aiplatform

    missing = [name for name in ("project", "region") if not getattr(config.vertex, name)]
    if missing:
        raise SubmitError(
            "Vertex AI needs "
            + " and ".join(f"vertex.{m}" for m in missing)
            + ": pass PROJECT=... REGION=... on the make line"
        )
    _require_file(template_path, "make compile-vertex")
    return aiplatform.PipelineJob(
        display_name=config.pipeline_name,
        template_path=template_path,
        job_id=config.vertex.run_name or default_run_name(config),
        pipeline_root=config.deploy.pipeline_root,
        encryption_spec_key_name=config.vertex.encryption_key or None,
        labels=dict(config.vertex.labels) or None,
        credentials=credentials,
        project=config.vertex.project,
        location=config.vertex.region,
    )


def submit_vertex(config: PipelineConfig, template_path: str, credentials: Any = None) -> dict[str, str]:
    """Submit the compiled JSON to Vertex AI Pipelines; returns the job's resource name and console URL."""
    import google.auth
    from google.api_core import exceptions as api_exceptions
    from google.auth import exceptions as auth_exceptions

    if credentials is None:
        try:
            credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        except auth_exceptions.DefaultCredentialsError as e:
            raise SubmitError(f"no Google Cloud credentials found: {_ADC_HELP}") from e
    job = vertex_job(config, template_path, credentials)
    try:
        job.submit(service_account=config.vertex.service_account or None, network=config.vertex.network or None)
    except auth_exceptions.RefreshError as e:
        raise SubmitError(f"the Google Cloud credentials were refused ({_root_cause(e)}): {_ADC_HELP}") from e
    except (auth_exceptions.TransportError, api_exceptions.ServiceUnavailable, api_exceptions.RetryError) as e:
        raise SubmitError(f"cannot reach Vertex AI in {config.vertex.region}: {_root_cause(e)}") from e
    except api_exceptions.GoogleAPICallError as e:
        raise SubmitError(
            f"Vertex AI refused the job in project {config.vertex.project}, region {config.vertex.region}: {e.message}"
        ) from e
    return {
        "job": job.resource_name,
        "url": f"https://console.cloud.google.com/vertex-ai/locations/{config.vertex.region}/pipelines/runs/"
        f"{job.job_id}?project={config.vertex.project}",
    }


def _require_file(path: str, how: str) -> None:
    if not os.path.isfile(path):
        raise SubmitError(f"{path} does not exist: compile it first ({how})")


def _root_cause(error: BaseException) -> str:
    """The innermost reason (urllib3 wraps "Connection refused" two levels deep), on one line."""
    for _ in range(5):
        nested = error.__cause__ or getattr(error, "reason", None)
        if not isinstance(nested, BaseException):
            break
        error = nested
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _auth_hint(status: Optional[int]) -> str:
    if status in (401, 403):
        return (
            "; authenticate to the cluster (an IAP or Dex-protected endpoint needs a token: see "
            "docs/deploy.md) or pass kubeflow.namespace for a multi-user install"
        )
    return ""
