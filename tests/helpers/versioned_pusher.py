"""Test helpers: blessings as TFX's Evaluator leaves them, and the real pusher executor run on them (used
by components/versioned_pusher/'s tests, the evaluator's and tests/predict_test.py, tests/report_test.py)."""

from __future__ import annotations

import json
import os
from typing import Optional

from components.formats import SPLITS
from components.formats.blessing import DECISION_FILE
from components.versioned_pusher.executor import (
    DESTINATION_KEY,
    EXAMPLES_KEY,
    MANIFEST_CONTEXT_KEY,
    MODEL_BLESSING_KEY,
    MODEL_KEY,
    PUSHED_MODEL_KEY,
    Executor,
)


def decision(blessed: bool, model_uri: str, accuracy: float = 0.81) -> dict:
    """A decision.json in BlessingEvaluator's format (/tmp/design/context.md, part A)."""
    reasons = [] if blessed else [f"accuracy {accuracy:.2f} < floor 0.30"]
    return {
        "blessed": blessed,
        "split": "test",
        "model_uri": model_uri,
        "model_id": 7,
        "metrics": {"example_count": 20, "accuracy": accuracy, "crossentropy": 0.61, "macro_f1": accuracy - 0.03},
        "checks": [
            {
                "name": "accuracy_floor",
                "metric": "accuracy",
                "comparison": ">=",
                "threshold": 0.3,
                "measured": accuracy,
                "passed": blessed,
                "skipped": False,
                "detail": "",
            },
            {
                "name": "no_regression",
                "metric": "accuracy",
                "comparison": ">=",
                "threshold": -0.02,
                "measured": None,
                "previous_model_uri": None,
                "passed": None,
                "skipped": True,
                "detail": "no blessed model before",
            },
        ],
        "reasons": reasons,
        "tfma_validation_ok": blessed,
        "tfma_failures": reasons,
    }


def make_blessing(uri: str, blessed: bool, model_uri: str, with_decision: bool = True, accuracy: float = 0.81):
    """A ModelBlessing with the custom properties tfx's Evaluator sets, and our decision.json."""
    from tfx.types import standard_artifacts

    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = uri
    os.makedirs(uri, exist_ok=True)
    # The standard Evaluator's marker files (BLESSED / NOT_BLESSED) beside the properties.
    open(os.path.join(uri, "BLESSED" if blessed else "NOT_BLESSED"), "w").close()
    blessing.set_int_custom_property("blessed", 1 if blessed else 0)
    blessing.set_string_custom_property("current_model", model_uri)
    blessing.set_int_custom_property("current_model_id", 7)
    if with_decision:
        with open(os.path.join(uri, DECISION_FILE), "w") as f:
            json.dump(decision(blessed, model_uri, accuracy), f)
    return blessing


def run_pusher(
    model_uri: str,
    blessing,
    destination: str,
    output_uri: str,
    examples_uri: Optional[str] = None,
    split_names=SPLITS,
    context: Optional[dict] = None,
):
    """The VersionedPusher executor as the pipeline runs it; returns the PushedModel artifact."""
    from tfx.types import artifact_utils, standard_artifacts

    from pipeline.config import load_config

    model = standard_artifacts.Model()
    model.uri = model_uri
    pushed = standard_artifacts.PushedModel()
    pushed.uri = output_uri
    inputs = {MODEL_KEY: [model], MODEL_BLESSING_KEY: [blessing]}
    if examples_uri is not None:
        examples = standard_artifacts.Examples()
        examples.uri = examples_uri
        examples.split_names = artifact_utils.encode_split_names(list(split_names))
        inputs[EXAMPLES_KEY] = [examples]
    context = context if context is not None else {"config": load_config().model_dump(mode="json")}
    Executor().Do(
        inputs, {PUSHED_MODEL_KEY: [pushed]}, {DESTINATION_KEY: destination, MANIFEST_CONTEXT_KEY: json.dumps(context)}
    )
    return pushed
