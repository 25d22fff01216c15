"""Do the sklearn baselines scale to fma_small? Fit and scoring seconds per algorithm at two train sizes 8x apart.

    make bench-baselines                                  (8,000 and 64,000 train rows: about 10 min on 2 cores)
    make bench-baselines BENCH_ARGS="--sizes 1000,8000"   (or: python -m benchmarks.bench_baselines --sizes ...)

Each algorithm is fitted by the executor's own code (`estimators.fit_baseline` with BaselinesConfig's defaults:
scaling, the configured hyperparameters, no grid search) and scored as the executor scores eval and test
(`metrics.evaluate_split` on each: predictions, and the class scores averaged per track), in a fresh process
per algorithm and size (its peak RSS is recorded: benchmarks/common.py). The data are synthetic and
class-structured: 8 classes, 518 features (the `fma` engineered preset's count), unit Gaussian noise in every
feature and the classes' means apart in 32 of them (spread 0.35), so that no model is near 100% (about 65%,
and the exact SVM keeps nearly every example as a support vector, as on real music). Eval and test are each
an eighth of the train rows (fma_small: about 8,000 segments each for 64,000 train).

    cost slope = (t_large / t_small) / (n_large / n_small): 1.0 = linear in the train rows, 8.0 = quadratic

(of fit, of scoring, and of both). Scoring kNN is quadratic by nature: 8x the scored rows, each against 8x the
train rows. `svm` is what the executor trains at each size: the exact SVC up to
`baselines.svm_exact_max_examples` (10,000), the Nyström approximation above it. Both are measured on their own
too: `svm approximate` at every size, `svm exact` only at sizes up to the threshold (an hour or more at 64,000),
and at the smallest size / 8 when that leaves it one size; its time at the larger sizes is extrapolated from its
measured slope (marked `extrapolated`). The figures for components/sklearn_baseline_trainer/cost_model.py (the
executor's ETA) are printed at the end.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from benchmarks.common import add_child_arguments, measure_in_child, run_child, write_report

MODULE = "benchmarks.bench_baselines"
NUM_FEATURES, NUM_CLASSES, INFORMATIVE, SPREAD = 518, 8, 32, 0.35
SEGMENTS_PER_TRACK = 10
SCORED_SPLITS = ("eval", "test")  # each an eighth of the train rows
ALGORITHMS = ("logistic_regression", "knn", "gaussian_nb", "svm")


def synthetic(rows: int, seed: int):
    """(features, labels, track ids): class means (the same for every seed) plus unit noise."""
    import numpy as np

    means = np.random.default_rng(1234).normal(0.0, SPREAD, size=(NUM_CLASSES, INFORMATIVE))
    rng = np.random.default_rng(seed)
    labels = np.repeat(rng.integers(0, NUM_CLASSES, -(-rows // SEGMENTS_PER_TRACK)), SEGMENTS_PER_TRACK)[:rows]
    features = rng.normal(size=(rows, NUM_FEATURES))
    features[:, :INFORMATIVE] += means[labels]
    return features, labels, np.arange(rows) // SEGMENTS_PER_TRACK


def child(algorithm: str, train_rows: int, exact_max: int) -> dict:
    import numpy as np

    from components.sklearn_baseline_trainer import estimators
    from components.sklearn_baseline_trainer.metrics import evaluate_split
    from components.sklearn_baseline_trainer.settings import BaselinesConfig

    baselines = BaselinesConfig(algorithms=(algorithm,), svm_exact_max_examples=exact_max)
    features, labels, tracks = synthetic(train_rows, seed=0)
    groups = tracks.astype(str)
    scored = {split: synthetic(train_rows // 8, seed=i + 1) for i, split in enumerate(SCORED_SPLITS)}
    genres = [f"genre{i}" for i in range(NUM_CLASSES)]
    fitted = estimators.fit_baseline(algorithm, baselines, features, labels, groups)
    started = time.monotonic()
    accuracy = {
        split: evaluate_split(fitted.estimator, *data[:2], data[2], genres)["accuracy"]
        for split, data in scored.items()
    }
    return {
        "variant": fitted.variant,
        "fit_s": fitted.fit_seconds,
        "score_s": time.monotonic() - started,
        "scored_rows": sum(len(data[1]) for data in scored.values()),
        "test_accuracy": accuracy["test"],
        "support_vectors": (
            int(np.sum(fitted.estimator[-1].n_support_)) if hasattr(fitted.estimator[-1], "n_support_") else None
        ),
    }


CHILDREN = {"fit": child}


def plan(algorithms: list[str], sizes: list[int], threshold: int) -> list[tuple[str, int, int]]:
    """(row name, train rows, svm_exact_max_examples) of every measurement."""
    runs = [(a, n, threshold) for a in algorithms if a != "svm" for n in sizes]
    if "svm" in algorithms:
        runs += [("svm approximate", n, 0) for n in sizes]
        exact = [n for n in sizes if n <= threshold]
        while len(exact) < 2:  # a slope needs two sizes: add an eighth of the smallest
            exact.insert(0, (exact[0] if exact else min(sizes)) // 8)
        runs += [("svm exact", n, max(threshold, n)) for n in exact]
    return runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="8000,64000", help="train rows, comma-separated (the first and last compared)"
    )
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    add_child_arguments(parser, CHILDREN)
    args = parser.parse_args(argv)
    if run_child(args, CHILDREN):
        return 0

    from components.sklearn_baseline_trainer import estimators
    from components.sklearn_baseline_trainer.settings import BaselinesConfig

    sizes = sorted(int(s) for s in args.sizes.split(","))
    if len(sizes) < 2:
        parser.error("--sizes needs at least two sizes")
    threshold = BaselinesConfig().svm_exact_max_examples
    report = {
        "sizes": sizes,
        "num_features": NUM_FEATURES,
        "classes": NUM_CLASSES,
        "svm_exact_max_examples": threshold,
        "runs": {},
    }
    for name, rows, exact_max in plan(args.algorithms.split(","), sizes, threshold):
        print(f"{name} at {rows:,} train rows ...", file=sys.stderr, flush=True)
        result, peak = measure_in_child(
            MODULE, "fit", {"algorithm": name.split()[0], "train_rows": rows, "exact_max": exact_max}
        )
        result["peak_mib"] = round(peak)
        report["runs"].setdefault(name, {})[str(rows)] = result
    if "svm" in args.algorithms.split(","):
        _extrapolate_exact(report["runs"]["svm exact"], sizes)
        report["runs"]["svm"] = {  # what the executor trains at each size, as its log and metrics.json name it
            str(n): {
                **report["runs"]["svm exact" if n <= threshold else "svm approximate"][str(n)],
                "variant": estimators.describe("svm", BaselinesConfig(), n)[0],
            }
            for n in sizes
        }
    print(summarise_report(report))
    print(f"\nReport: {write_report('baselines', report)}")
    return 0


def _extrapolate_exact(runs: dict, sizes: list[int]) -> None:
    """The exact SVC at the sizes past its last measured one, from its measured slope (fit and scoring)."""
    measured = sorted(int(n) for n in runs)
    small, large = measured[0], measured[-1]
    for n in sizes:
        if n <= large:
            continue
        estimate = {"variant": "svm (exact SVC)", "extrapolated": True}
        for key in ("fit_s", "score_s"):
            exponent = math.log(runs[str(large)][key] / runs[str(small)][key]) / math.log(large / small)
            estimate[key] = runs[str(large)][key] * (n / large) ** exponent
            estimate[f"{key}_exponent"] = exponent
        runs[str(n)] = estimate


def slope(t_small: float, t_large: float, n_small: int, n_large: int) -> float:
    return (t_large / t_small) / (n_large / n_small)


def summarise_report(report: dict) -> str:
    small, large = report["sizes"][0], report["sizes"][-1]
    lines = [
        f"{report['classes']} classes x {report['num_features']} features; train rows {small:,} -> {large:,} "
        f"({large / small:g}x), eval and test {small // 8:,} -> {large // 8:,} rows each; "
        f"baselines.svm_exact_max_examples={report['svm_exact_max_examples']:,}",
        f"{'algorithm':<20} {'fit s':>17} {'score s':>15} {'slope fit':>9} {'score':>6} {'total':>6} "
        f"{'test acc':>13} {'peak MiB':>11}  variant at {large:,}",
    ]
    for name, runs in report["runs"].items():
        a, b = runs.get(str(small)), runs.get(str(large))
        if a is None or b is None:
            continue
        mark = " (extrapolated)" if b.get("extrapolated") else ""
        slopes = [
            slope(a[key], b[key], small, large)
            if key != "total"
            else slope(a["fit_s"] + a["score_s"], b["fit_s"] + b["score_s"], small, large)
            for key in ("fit_s", "score_s", "total")
        ]
        accuracy = (
            f"{a['test_accuracy']:.3f}/{b['test_accuracy']:.3f}"
            if "test_accuracy" in b
            else f"{a['test_accuracy']:.3f}/-"
        )
        peak = f"{a['peak_mib']}/{b['peak_mib']}" if "peak_mib" in b else f"{a['peak_mib']}/-"
        lines.append(
            f"{name:<20} {a['fit_s']:>7.1f}/{b['fit_s']:<9.1f} {a['score_s']:>6.1f}/{b['score_s']:<8.1f} "
            f"{slopes[0]:>9.2f} {slopes[1]:>6.2f} {slopes[2]:>6.2f} {accuracy:>13} {peak:>11}  {b['variant']}{mark}"
        )
    lines.append(
        "  fit s, score s, test acc, peak MiB: at the smaller/larger size; slope 1.0 = linear in the train rows"
    )
    exact = report["runs"].get("svm exact", {})
    if len(exact) >= 2:
        sizes = sorted(int(n) for n, r in exact.items() if not r.get("extrapolated"))
        lo, hi = exact[str(sizes[0])], exact[str(sizes[-1])]
        lines.append(
            f"svm exact measured at {sizes[0]:,} -> {sizes[-1]:,} rows: fit {lo['fit_s']:.1f} -> {hi['fit_s']:.1f} s "
            f"(n^{math.log(hi['fit_s'] / lo['fit_s']) / math.log(sizes[-1] / sizes[0]):.2f}), "
            f"score {lo['score_s']:.1f} -> {hi['score_s']:.1f} s"
        )
    lines.append(cost_model_figures(report))
    return "\n".join(lines)


def cost_model_figures(report: dict) -> str:
    """cost_model.py's coefficients implied by the largest size (the exact SVC: its largest measured one)."""
    d = report["num_features"]
    keys = {"svm approximate": "svm_approximate", "svm exact": "svm"}
    fit, score, exponents = {}, {}, {}
    for name, runs in report["runs"].items():
        if name == "svm":
            continue
        key = keys.get(name, name)
        measured = sorted(int(n) for n, r in runs.items() if not r.get("extrapolated"))
        n, run = measured[-1], runs[str(measured[-1])]
        p = 1.0
        if key == "svm" and len(measured) >= 2:
            p = math.log(run["fit_s"] / runs[str(measured[0])]["fit_s"]) / math.log(n / measured[0])
            exponents[key] = round(p, 2)
        q = 1.0 if key in ("knn", "svm") else 0.0
        fit[key] = float(f"{run['fit_s'] / (n**p * d):.3g}")
        score[key] = float(f"{run['score_s'] / (run['scored_rows'] * n**q * d):.3g}")
    return f"cost_model.py figures: FIT = {fit}\n  FIT_EXPONENT = {exponents}\n  SCORE = {score}"


if __name__ == "__main__":
    sys.exit(main())
