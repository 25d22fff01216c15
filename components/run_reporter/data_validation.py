"""TFDV for the report: a per-split summary of StatisticsGen's statistics, and train/eval/test skew and drift
measured by TFDV's own comparators.

Skew and drift: the comparators are set on a copy of SchemaGen's schema (the pipeline's schema is not
changed), L-infinity distance for categorical features and approximate Jensen-Shannon divergence for
numeric ones; eval and test are each compared against train. Categorical means what the statistics hold
value counts for: strings, and integers the schema marks categorical (StatisticsGen runs without a schema,
so the integer `label` has numeric statistics and gets Jensen-Shannon; `genre` carries the same
distribution as strings). TFDV reports
every measured value with its threshold in the Anomalies' drift_skew_info, which is what the report shows.
"""

from __future__ import annotations

import copy
import os

import tensorflow as tf

from components.audio_example_gen import features

REFERENCE_SPLIT = "train"
# The splits are of one dataset, so any visible difference is worth a look: strict-ish defaults.
L_INFINITY_THRESHOLD = 0.1
JENSEN_SHANNON_THRESHOLD = 0.1
# Features that differ between splits by construction: comparing them would only raise false alarms.
NOT_COMPARED = {
    features.ARTIST_ID: "splits are drawn by artist, so artist ids differ between splits by design",
    features.TRACK_ID: "an identifier",
    features.SOURCE_PATH: "an identifier",
}
STATISTICS_FILE = "FeatureStats.pb"  # tfx.components.statistics_gen.executor.DEFAULT_FILE_NAME
SCHEMA_FILE = "schema.pbtxt"  # tfx.components.schema_gen.executor.DEFAULT_FILE_NAME


def load_statistics(statistics_uri: str) -> dict:
    """{split: DatasetFeatureStatistics} from a StatisticsGen artifact (Split-<name>/FeatureStats.pb)."""
    import tensorflow_data_validation as tfdv

    result = {}
    for entry in sorted(tf.io.gfile.listdir(statistics_uri)):
        name = entry.rstrip("/")
        path = os.path.join(statistics_uri, name, STATISTICS_FILE)
        if name.startswith("Split-") and tf.io.gfile.exists(path):
            result[name[len("Split-") :]] = tfdv.load_stats_binary(path).datasets[0]
    if not result:
        raise FileNotFoundError(f"no Split-*/{STATISTICS_FILE} under {statistics_uri}")
    return result


def load_schema(schema_uri: str):
    import tensorflow_data_validation as tfdv

    return tfdv.load_schema_text(os.path.join(schema_uri, SCHEMA_FILE))


def anomalies_by_split(anomalies_uri: str) -> dict[str, list[str]]:
    """Human-readable anomalies per split from an ExampleValidator artifact (Split-<name>/SchemaDiff.pb)."""
    from tensorflow_data_validation.utils import anomalies_util

    result = {}
    for entry in sorted(tf.io.gfile.listdir(anomalies_uri)):  # gs:// too: the RunReporter reads cloud runs
        name = entry.rstrip("/")
        path = os.path.join(anomalies_uri, name, "SchemaDiff.pb")
        if name.startswith("Split-") and tf.io.gfile.exists(path):
            anomalies = anomalies_util.load_anomalies_binary(path)
            result[name[len("Split-") :]] = [
                f"{feature}: {info.short_description}" for feature, info in sorted(anomalies.anomaly_info.items())
            ]
    return result


def _feature_name(feature) -> str:
    return ".".join(feature.path.step) if feature.HasField("path") else feature.name


def summarize_split(stats) -> dict:
    """One split's DatasetFeatureStatistics as rows: numeric features (count, missing, mean, std, zeros,
    min, median, max) and categorical ones (count, missing, unique values, most frequent values)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    numeric, categorical = [], []
    for feature in sorted(stats.features, key=_feature_name):
        kind = statistics_pb2.FeatureNameStatistics.Type.Name(feature.type)
        if feature.HasField("num_stats"):
            s = feature.num_stats
            common = s.common_stats
            numeric.append(
                {
                    "feature": _feature_name(feature),
                    "type": kind,
                    "count": int(common.num_non_missing),
                    "missing": int(common.num_missing),
                    "mean": s.mean,
                    "std": s.std_dev,
                    "min": s.min,
                    "median": s.median,
                    "max": s.max,
                    "zeros": int(s.num_zeros),
                }
            )
        elif feature.HasField("string_stats"):
            s = feature.string_stats
            common = s.common_stats
            categorical.append(
                {
                    "feature": _feature_name(feature),
                    "type": kind,
                    "count": int(common.num_non_missing),
                    "missing": int(common.num_missing),
                    "unique": int(s.unique),
                    "top": [(v.value, int(v.frequency)) for v in s.top_values[:5]],
                }
            )
    return {"examples": int(stats.num_examples), "numeric": numeric, "categorical": categorical}


def is_categorical(feature) -> bool:
    from tensorflow_metadata.proto.v0 import schema_pb2

    return feature.type == schema_pb2.BYTES or (feature.HasField("int_domain") and feature.int_domain.is_categorical)


def comparator_schema(
    schema, l_infinity: float = L_INFINITY_THRESHOLD, jensen_shannon: float = JENSEN_SHANNON_THRESHOLD
):
    """A copy of the schema with skew and drift comparators on every compared feature."""
    schema = copy.deepcopy(schema)
    for feature in schema.feature:
        if feature.name in NOT_COMPARED:
            continue
        for comparator in (feature.skew_comparator, feature.drift_comparator):
            if is_categorical(feature):
                comparator.infinity_norm.threshold = l_infinity
            else:
                comparator.jensen_shannon_divergence.threshold = jensen_shannon
    return schema


def _measurements(anomalies, kind: str) -> dict:
    """{feature: (comparator type name, value, threshold)} from drift_skew_info."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    found = {}
    for info in anomalies.drift_skew_info:
        for m in getattr(info, f"{kind}_measurements"):
            name = anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(m.type)
            found[".".join(info.path.step)] = (name, float(m.value), float(m.threshold))
    return found


COMPARATOR_NAMES = {
    "L_INFTY": "L-infinity distance",
    "JENSEN_SHANNON_DIVERGENCE": "Jensen-Shannon divergence",
    "NORMALIZED_ABSOLUTE_DIFFERENCE": "normalized absolute difference",
}


def compare_splits(
    statistics: dict,
    schema,
    reference: str = REFERENCE_SPLIT,
    l_infinity: float = L_INFINITY_THRESHOLD,
    jensen_shannon: float = JENSEN_SHANNON_THRESHOLD,
) -> dict:
    """Skew (reference as training data, the other split as serving data) and drift (reference as the
    previous span) of every other split against `reference`, per feature, as TFDV measured them.

    Returns {"reference", "compared": [split], "rows": [{"feature", "comparator", "threshold",
    "splits": {split: {"skew", "drift", "flagged"}}}], "not_compared": {feature: why}}."""
    import tensorflow_data_validation as tfdv

    if reference not in statistics:
        raise ValueError(f"no {reference!r} statistics to compare against (splits: {sorted(statistics)})")
    schema = comparator_schema(schema, l_infinity, jensen_shannon)
    as_list = {split: _as_list(stats) for split, stats in statistics.items()}
    compared = [s for s in statistics if s != reference]
    rows: dict[str, dict] = {}
    for split in compared:
        skew = _measurements(
            tfdv.validate_statistics(as_list[reference], schema, serving_statistics=as_list[split]), "skew"
        )
        drift = _measurements(
            tfdv.validate_statistics(as_list[split], schema, previous_statistics=as_list[reference]), "drift"
        )
        for feature in sorted(set(skew) | set(drift)):
            kind, _, threshold = skew.get(feature) or drift[feature]
            row = rows.setdefault(
                feature,
                {
                    "feature": feature,
                    "comparator": COMPARATOR_NAMES.get(kind, kind),
                    "threshold": threshold,
                    "splits": {},
                },
            )
            skew_value = skew[feature][1] if feature in skew else None
            drift_value = drift[feature][1] if feature in drift else None
            values = [v for v in (skew_value, drift_value) if v is not None]
            row["splits"][split] = {
                "skew": skew_value,
                "drift": drift_value,
                "flagged": any(v > threshold for v in values),
            }
    present = {_feature_name(f) for stats in statistics.values() for f in stats.features}
    return {
        "reference": reference,
        "compared": compared,
        "rows": [rows[f] for f in sorted(rows)],
        "not_compared": {f: why for f, why in NOT_COMPARED.items() if f in present},
    }


def _as_list(dataset_stats):
    from tensorflow_metadata.proto.v0 import statistics_pb2

    result = statistics_pb2.DatasetFeatureStatisticsList()
    result.datasets.add().CopyFrom(dataset_stats)
    return result


def split_order(splits, preferred=("train", "eval", "test")) -> list[str]:
    return [s for s in preferred if s in splits] + sorted(s for s in splits if s not in preferred)
