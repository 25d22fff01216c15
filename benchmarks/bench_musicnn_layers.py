"""Which musicnn layer to train on: logistic regression on each of musicnn's outputs, cross-validated by track.

    make bench-musicnn-layers                                   (the demo data's examples)
    make bench-musicnn-layers BENCH_ARGS="--dataset fixtures"   (the real recordings in tests/data/audio)

Every 3 s example is embedded once by the port in components/musicnn.py (the wheel's MSD_musicnn, or
`--model MTT_musicnn`), all four outputs at a time (`mean_pool`, `max_pool`, `penultimate`, `taggram`, each
the mean over the example's patches, as the featurizer stores it). For each output: standardised features,
logistic regression (C=1), 5-fold cross-validation grouped by track (no track in two folds), accuracy per
segment and per track (mean of the segments' probabilities). The demo examples come from bench-input's
prepared data (the demo dataset through AudioExampleGen); `--dataset fixtures` cuts the five real recordings
of tests/data/audio into 6 s pseudo-tracks (one recording per label: a recording's style, not genre across
artists, so only the ranking of the layers says something).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import components  # noqa: F401  (Keras 2 before TensorFlow: see components/__init__.py)
from benchmarks.common import write_report

FOLDS = 5


def demo_examples(config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(waveforms [n, samples], labels, track ids) of every split of the prepared demo examples."""
    import tensorflow as tf

    from benchmarks.bench_input import prepare_examples, split_files
    from components.formats import SPLITS
    from components.formats import examples as raw

    root = prepare_examples(config)["raw"]
    spec = {name: raw.feature_spec()[name] for name in (raw.AUDIO, raw.LABEL, raw.TRACK_ID)}
    waves, labels, tracks = [], [], []
    for split in SPLITS:
        dataset = tf.data.TFRecordDataset(split_files(root, split), compression_type="GZIP").batch(256)
        for batch in dataset:
            parsed = tf.io.parse_example(batch, spec)
            waves.append(raw.decode_waveform(parsed[raw.AUDIO]).numpy().reshape(len(batch), -1))
            labels.append(parsed[raw.LABEL].numpy())
            tracks.append(parsed[raw.TRACK_ID].numpy())
    return np.concatenate(waves), np.concatenate(labels), np.concatenate(tracks)


def fixture_examples(num_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import soundfile as sf

    from benchmarks.bench_families import FIXTURE_LABELS, PSEUDO_TRACK_SECONDS
    from pipeline.config import PROJECT_ROOT

    waves, labels, tracks = [], [], []
    for label, name in enumerate(FIXTURE_LABELS):
        audio, rate = sf.read(str(PROJECT_ROOT / "tests" / "data" / "audio" / name), dtype="float32")
        track_samples = PSEUDO_TRACK_SECONDS * rate
        for start in range(0, len(audio) - num_samples + 1, num_samples):
            waves.append(audio[start : start + num_samples])
            labels.append(label)
            tracks.append(label * 1000 + start // track_samples)
    return np.stack(waves), np.array(labels), np.array(tracks)


def embed(waves: np.ndarray, sample_rate: int, model: str) -> dict[str, np.ndarray]:
    from components import musicnn

    embedder = musicnn.build_embedder(sample_rate, waves.shape[1], model, outputs=musicnn.OUTPUTS)
    out: dict[str, list] = {name: [] for name in musicnn.OUTPUTS}
    for start in range(0, len(waves), 32):
        result = embedder(waves[start : start + 32])
        for name in musicnn.OUTPUTS:
            out[name].append(result[name].numpy().mean(axis=1))
    return {name: np.concatenate(values) for name, values in out.items()}


def cross_validate(features: np.ndarray, labels: np.ndarray, tracks: np.ndarray) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from components import classification_metrics

    segment, track = [], []
    folds = min(FOLDS, len(np.unique(tracks)))
    for train, test in GroupKFold(folds).split(features, labels, tracks):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        model.fit(features[train], labels[train])
        probabilities = model.predict_proba(features[test])
        segment.append(np.mean(model.classes_[probabilities.argmax(axis=1)] == labels[test]))
        _, true, predicted = classification_metrics.track_predictions(
            tracks[test], labels[test], probabilities, model.classes_
        )
        track.append(np.mean(true == predicted))
    return {
        "accuracy": float(np.mean(segment)),
        "accuracy_std": float(np.std(segment)),
        "track_accuracy": float(np.mean(track)),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("demo", "fixtures"), default="demo")
    parser.add_argument("--model", choices=("MSD_musicnn", "MTT_musicnn"), default="MSD_musicnn")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    from pipeline.config import load_config

    config = load_config(None, args.overrides)
    rate, samples = config.audio.sample_rate, config.audio.example_samples
    waves, labels, tracks = demo_examples(config) if args.dataset == "demo" else fixture_examples(samples)
    started = time.perf_counter()
    embeddings = embed(waves, rate, args.model)
    seconds = time.perf_counter() - started
    results = {name: cross_validate(values, labels, tracks) for name, values in embeddings.items()}
    lines = [
        f"{args.model} on {len(labels)} examples of {len(np.unique(tracks))} tracks ({args.dataset}); embedded in "
        f"{seconds:.0f} s ({1000 * seconds / len(labels):.1f} ms per example); logistic regression, "
        f"{FOLDS}-fold cross-validation grouped by track",
        f"{'layer':<12} {'size':>5} {'accuracy':>14} {'track accuracy':>15}",
    ]
    for name, r in results.items():
        lines.append(
            f"{name:<12} {embeddings[name].shape[1]:>5} {100 * r['accuracy']:>7.1f}% +-{100 * r['accuracy_std']:>4.1f} "
            f"{100 * r['track_accuracy']:>14.1f}%"
        )
    print("\n".join(lines))
    report = {"dataset": args.dataset, "model": args.model, "examples": len(labels), "layers": results}
    print(f"\nReport: {write_report(f'musicnn_layers_{args.dataset}', report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
