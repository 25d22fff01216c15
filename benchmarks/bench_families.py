"""Every Keras model family and the baselines on one dataset: test accuracy and macro-F1, per segment and per
track, from whole pipeline runs (LocalDagRunner, the configuration's settings plus the family).

    make bench-families                                        (the demo data; all four families)
    make bench-families BENCH_ARGS="--dataset fixtures"        (the real recordings in tests/data/audio)
    make bench-families BENCH_ARGS="--families musicnn_transfer,cnn2d_mel"

Each family is a run of the pipeline in one output root (build/bench/families/<dataset>), so ingestion,
statistics and the transform are cached between families that share them. Runs with musicnn_transfer also
train the baselines on the musicnn embedding (baselines.feature_set=musicnn) beside the engineered ones, so
both feature sets are reported. Evaluator thresholds are off (every model is scored, none refused).

`--dataset fixtures`: the five real recordings of tests/data/audio (5.6 min of music, one recording per
label: Jazz, Electronic, Folk, Ragtime, Classical), each cut into 6 s pseudo-tracks (WAV) in the folder
layout; the hash split puts pseudo-tracks of one recording in train and test. With one recording per label
this measures how well a model recognises the style of a recording from other parts of it, not genre
recognition across artists: a smoke test on real audio, not a benchmark of the field (see the Trainer's
README for fma_small figures).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

FAMILIES = ("musicnn_transfer", "cnn2d_mel", "cnn1d_raw", "mobilenetv2_transfer")
FIXTURE_LABELS = {
    "Kevin_MacLeod_-_Vibe_Ace.ogg": "Jazz",
    "admiralbob77_-_Choice_-_Drum-bass.ogg": "Electronic",
    "Karissa_Hobbs_-_Lets_Go_Fishin.ogg": "Folk",
    "442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.ogg": "Ragtime",
    "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg": "Classical",
}
PSEUDO_TRACK_SECONDS = 6
METRICS = ("accuracy", "macro_f1", "track_accuracy", "track_macro_f1")
COMMON = ["evaluator.accuracy_floor=0", "evaluator.baseline_margin=-1", "audio.segment_seconds=3"]


def build_root() -> str:
    from pipeline.config import PROJECT_ROOT

    return str(PROJECT_ROOT / "build" / "bench" / "families")


def fixture_dataset(root: str) -> list[str]:
    """Cuts the fixture recordings into pseudo-tracks (once); the overrides that select them."""
    import soundfile as sf

    from pipeline.config import PROJECT_ROOT

    audio_root = os.path.join(root, "fixtures-audio")
    marker = os.path.join(audio_root, "done.json")
    if not os.path.exists(marker):
        for name, genre in FIXTURE_LABELS.items():
            audio, rate = sf.read(str(PROJECT_ROOT / "tests" / "data" / "audio" / name), dtype="float32")
            step = PSEUDO_TRACK_SECONDS * rate
            os.makedirs(os.path.join(audio_root, genre), exist_ok=True)
            for index, start in enumerate(range(0, len(audio) - step + 1, step)):
                stem = os.path.splitext(name)[0][:40]
                sf.write(os.path.join(audio_root, genre, f"{stem}-{index:02d}.wav"), audio[start : start + step], rate)
        with open(marker, "w") as f:
            json.dump(FIXTURE_LABELS, f)
    genres = ",".join(FIXTURE_LABELS.values())
    return [
        "dataset.layout=folders",
        f"dataset.audio_root={audio_root}",
        f"genres=[{genres}]",
        "split.method=hash",
        "split.train_percent=60",
        "split.eval_percent=20",
    ]


def run_family(family: str, overrides: list[str], baselines_on_musicnn: bool) -> dict:
    """One pipeline run; {keras: test metrics, baselines: {algorithm: test metrics}, seconds}."""
    from pipeline import runs as pipeline_runs
    from pipeline.config import load_config

    settings = [*overrides, f"trainer.model_family={family}"]
    if baselines_on_musicnn:
        settings.append("baselines.feature_set=musicnn")
    args = [sys.executable, "-m", "pipeline.cli", "run-local"] + [a for s in settings for a in ("--set", s)]
    started = time.monotonic()
    completed = subprocess.run(args, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-30:])
        raise RuntimeError(f"the run of {family} failed:\n{tail}")
    config = load_config(None, settings)
    outputs = pipeline_runs.latest_outputs(config)
    with open(os.path.join(outputs["Trainer.model_run"], "metrics.json")) as f:
        keras = json.load(f)
    with open(os.path.join(outputs["SklearnBaselineTrainer.model"], "metrics.json")) as f:
        baselines = json.load(f)
    return {
        "seconds": round(seconds, 1),
        "keras": {key: keras["test"].get(key) for key in METRICS},
        "keras_notes": {k: v for k, v in keras["training"].items() if "weights" in k or "musicnn" in k},
        "baselines_feature_set": baselines.get("feature_set", "engineered"),
        "baselines": {
            algorithm: {key: values.get(f"test_{key}") for key in METRICS}
            for algorithm, values in baselines["algorithms"].items()
        },
        "tracks_and_examples": {"examples": keras["test"]["examples"], "tracks": keras["test"]["tracks"]},
    }


def table(report: dict) -> str:
    def cell(value):
        return "n/a" if value is None else f"{100 * value:.1f}%"

    lines = [
        f"Dataset: {report['dataset']}; test split: {report['test']['examples']} segments of "
        f"{report['test']['tracks']} tracks",
        f"{'model':<44} {'acc':>7} {'macro-F1':>9} {'track acc':>10} {'track F1':>9}",
    ]
    rows = []
    for family, run in report["runs"].items():
        if family in FAMILIES:  # not the rerun that only moves the baselines to the musicnn embedding
            rows.append((f"Keras {family}", run["keras"]))
    seen = set()
    for run in report["runs"].values():
        feature_set = run["baselines_feature_set"]
        if feature_set in seen:
            continue
        seen.add(feature_set)
        rows += [(f"sklearn {a} ({feature_set})", m) for a, m in run["baselines"].items()]
    for name, m in rows:
        lines.append(
            f"{name:<44} {cell(m['accuracy']):>7} {cell(m['macro_f1']):>9} {cell(m['track_accuracy']):>10} "
            f"{cell(m['track_macro_f1']):>9}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("demo", "fixtures"), default="demo")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra config overrides")
    args = parser.parse_args(argv)
    root = os.path.join(build_root(), args.dataset)
    os.makedirs(root, exist_ok=True)
    overrides = [*COMMON, f"output_root={root}/runs", *args.overrides]
    if args.dataset == "fixtures":
        overrides += fixture_dataset(root)
    report = {"dataset": args.dataset, "overrides": overrides, "runs": {}}
    families = args.families.split(",")
    for family in families:
        print(f"bench-families: {args.dataset}: running {family} ...", file=sys.stderr, flush=True)
        report["runs"][family] = run_family(family, overrides, baselines_on_musicnn=False)
        print(f"bench-families: {family} done in {report['runs'][family]['seconds']:.0f} s", file=sys.stderr)
    if "musicnn_transfer" in families:
        report["runs"]["musicnn_transfer (baselines on musicnn)"] = run_family(
            "musicnn_transfer", overrides, baselines_on_musicnn=True
        )
    report["test"] = next(iter(report["runs"].values()))["tracks_and_examples"]
    text = table(report)
    print(text)
    path = os.path.join(root, "families.json")
    with open(path, "w") as f:
        json.dump({**report, "table": text}, f, indent=2)
    print(f"\nReport: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
