"""decision.json: what the BlessingEvaluator decided, at the root of its ModelBlessing artifact; the
VersionedPusher copies it into the manifest of what it pushes, and the report shows it."""

from __future__ import annotations

import os

DECISION_FILE = "decision.json"


def decision_path(blessing_uri: str) -> str:
    return os.path.join(blessing_uri, DECISION_FILE)


def read_decision(blessing_uri: str) -> dict:
    """decision.json of a ModelBlessing artifact written by BlessingEvaluator."""
    # Function-level: json_files imports TensorFlow (tf.io.gfile), which light importers of formats avoid.
    from components.json_files import read_json

    path = decision_path(blessing_uri)
    decision = read_json(path)
    if decision is None:
        raise FileNotFoundError(
            f"{path} does not exist: {blessing_uri} is not a blessing written by the "
            "BlessingEvaluator (component Evaluator), or that run failed"
        )
    return decision


def write_decision(blessing_uri: str, decision: dict) -> str:
    """Writes decision.json into the blessing; returns its path."""
    from components.json_files import write_json  # TensorFlow: see read_decision

    path = decision_path(blessing_uri)
    write_json(path, decision)
    return path
