"""Kubeflow Pipelines v2 / Vertex AI: the compiler (kubeflow_runner), accelerator placement, submission, their CLI."""
