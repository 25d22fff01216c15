"""The TFMA EvalConfig of the Keras model: metrics, slices and the accuracy thresholds that bless it.

The served SavedModel is evaluated through its `serving_examples` signature (serialized tf.Examples in,
`probabilities` out), as TF Serving's example-based clients would call it. `model_type` is "tf_generic":
TFMA then loads the SavedModel with `tf.saved_model.load` and calls the named signature, instead of
trying `tf.keras.models.load_model` first (which would rebuild the Keras model, the featurizer inside it,
for nothing: TFMA only needs the signature).
"""

from __future__ import annotations

import json
from typing import Optional

import tensorflow_model_analysis as tfma

from components.blessing_evaluator.settings import EvaluatorConfig
from components.formats import examples as raw_features
from components.formats.serving import PROBABILITIES, SERVING_EXAMPLES

# Metric names as TFMA writes them into the evaluation (MetricKey.name).
ACCURACY = "accuracy"
CROSSENTROPY = "crossentropy"
EXAMPLE_COUNT = "example_count"
PRECISION = "precision"
RECALL = "recall"
F1 = "f1_score"
CONFUSION_MATRIX = "multi_class_confusion_matrix_plot"
SLICE_FEATURE = raw_features.GENRE
MODEL_TYPE = "tf_generic"


def build_eval_config(num_classes: int, evaluator: EvaluatorConfig) -> tfma.EvalConfig:
    """EvalConfig for `num_classes` genres with the static accuracy thresholds of the `evaluator` settings.

    The executor replaces the accuracy lower bound at run time (the best sklearn baseline is known only
    then); the floor set here keeps the config meaningful on its own, e.g. under the stock Evaluator."""
    return make_eval_config(
        num_classes=num_classes,
        accuracy_lower_bound=evaluator.accuracy_floor,
        max_accuracy_drop=evaluator.max_accuracy_drop,
    )


def make_eval_config(num_classes: int, accuracy_lower_bound: float, max_accuracy_drop: float) -> tfma.EvalConfig:
    class_ids = list(range(num_classes))
    eval_config = tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=SERVING_EXAMPLES,
                model_type=MODEL_TYPE,
                label_key=raw_features.LABEL,
                prediction_key=PROBABILITIES,
            )
        ],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[SLICE_FEATURE])],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    _keras_metric("SparseCategoricalAccuracy", ACCURACY),
                    _keras_metric("SparseCategoricalCrossentropy", CROSSENTROPY),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            ),
            # One-vs-rest per genre (sub key class_id) on the top prediction, so "predicted genre i" means what
            # the confusion matrix says: top_k=1 sets every other class's score to -inf, threshold 0.0 then
            # keeps the argmax only. (TFMA's defaults count score > 0.5, not the prediction; and its own -inf
            # threshold for top_k counts the -inf scores as positives: every class then has recall 1.0.)
            # TFMA cannot macro-average top_k metrics (its macro average looks up class-only sub keys), so
            # macro-F1 is the mean of these per-genre F1 values, taken by results.py.
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name=name, config=json.dumps({"top_k": 1, "thresholds": [0.0]}))
                    for name in ("Precision", "Recall", "F1Score")
                ],
                binarize=tfma.BinarizationOptions(class_ids={"values": class_ids}),
            ),
        ],
    )
    set_accuracy_thresholds(eval_config, accuracy_lower_bound, max_accuracy_drop)
    return eval_config


def _keras_metric(class_name: str, name: str) -> tfma.MetricConfig:
    return tfma.MetricConfig(class_name=class_name, config=json.dumps({"name": name}))


def accuracy_metric(eval_config: tfma.EvalConfig) -> tfma.MetricConfig:
    """The MetricConfig named ACCURACY (the one the blessing thresholds sit on)."""
    for spec in eval_config.metrics_specs:
        if spec.HasField("binarize") or spec.HasField("aggregate"):
            continue
        for metric in spec.metrics:
            if _metric_name(metric) == ACCURACY:
                return metric
    raise ValueError(
        f"the eval_config has no metric named {ACCURACY!r} (a plain, non-binarized one): build it "
        "with components.blessing_evaluator.eval_config.build_eval_config"
    )


def set_accuracy_thresholds(
    eval_config: tfma.EvalConfig, lower_bound: float, max_drop: Optional[float]
) -> tfma.EvalConfig:
    """Accuracy >= lower_bound, and (when max_drop is not None) candidate - baseline >= -max_drop, on the
    overall slice.

    Only the overall slice: a MetricConfig's plain `threshold` applies to every slice, and one genre's
    slice (a handful of examples) must not veto the model. TFMA ignores the change threshold when no
    baseline model is given (the Evaluator rubber-stamps)."""
    threshold = tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(lower_bound={"value": lower_bound}))
    if max_drop is not None:
        threshold.change_threshold.CopyFrom(
            tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -max_drop})
        )
    metric = accuracy_metric(eval_config)
    metric.ClearField("threshold")
    del metric.per_slice_thresholds[:]
    metric.per_slice_thresholds.add(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)
    return eval_config


def accuracy_thresholds(eval_config: tfma.EvalConfig) -> tuple[Optional[float], Optional[float]]:
    """(value lower bound, change absolute bound) of the accuracy metric; None where not set."""
    metric = accuracy_metric(eval_config)
    if not metric.per_slice_thresholds:
        return None, None
    threshold = metric.per_slice_thresholds[0].threshold
    lower = threshold.value_threshold.lower_bound.value if threshold.value_threshold.HasField("lower_bound") else None
    change = threshold.change_threshold.absolute.value if threshold.change_threshold.HasField("absolute") else None
    return lower, change


def _metric_name(metric: tfma.MetricConfig) -> str:
    if metric.config:
        name = json.loads(metric.config if metric.config.lstrip().startswith("{") else "{" + metric.config + "}")
        if "name" in name:
            return name["name"]
    return metric.class_name
