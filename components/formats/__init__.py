"""What two or more components share about files and keys, in one place (no second copy of a name).

    components.formats            split names and the file names at the root of this pipeline's artifacts
    components.formats.examples   the tf.Example contract: raw (AudioExampleGen) and transformed
                                  (SpectrogramTransform) feature names, the PCM16 waveform encoding, the
                                  tf.Example wire encoder
    components.formats.serving    the served model's contract: signature, input and output names, and
                                  reading a serving SavedModel's serving_info
    components.formats.blessing   decision.json, the BlessingEvaluator's decision the Pusher reads
    components.formats.push       the push destination's layout: versions, manifests, claims, push_result.json

TFX's own input/output keys are not redeclared here: component.py/executor.py modules take them from
`tfx.types.standard_component_specs`. These modules import neither TFX nor (at load time) TensorFlow:
light code (the CLI, pipeline.config, Beam workers) imports them. They import no component package.
"""

from __future__ import annotations

SPLITS = ("train", "eval", "test")  # every Examples artifact of this pipeline: Split-train, Split-eval, Split-test

# At the root of an Examples artifact written by AudioExampleGen or SpectrogramTransform.
SUMMARY_FILE = "summary.json"
EXAMPLES_WRITTEN = "examples_written"  # summary.json: {split: records counted in the artifact's files}
QUARANTINE_FILE = "quarantine.jsonl"

# At the root of a Model artifact written by SklearnBaselineTrainer: the summary of every algorithm
# (best_algorithm, best_test_accuracy, ...), read by the BlessingEvaluator.
BASELINE_SUMMARY_FILE = "metrics.json"

# In the RunReporter's `report` artifact (components/run_reporter): the run's HTML report, its machine-readable
# summary (the report's data as JSON), its example ledger and whether the reporter succeeded.
REPORT_HTML = "report.html"
REPORT_SUMMARY = "summary.json"
REPORT_LEDGER = "ledger.json"
REPORT_STATUS = "status.json"
