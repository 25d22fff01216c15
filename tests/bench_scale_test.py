"""bench-scale's pure parts: the sizes, TFX's log lines, per-component accounting, slopes, the table."""

from __future__ import annotations

import itertools
import json
import logging
import subprocess

import pytest

from benchmarks import bench_scale as bs


def test_parse_clips():
    assert bs.parse_clips("400,1600", 8) == [400, 1600]
    assert bs.parse_clips(" 8_000 , 1000 ", 8) == [1000, 8000]
    assert bs.parse_clips("24,96", 8) == [24, 96]
    assert bs.parse_clips("6,24", 2) == [6, 24]
    for text, message in [
        ("400", "exactly two"),
        ("400,1600,6400", "exactly two"),
        ("400,lots", "whole numbers"),
        ("16,64", "at least 24"),  # 2 per genre: no artist for each split
        ("404,1616", "multiple of 8"),
        ("400,1200", "at least 4x"),
    ]:
        with pytest.raises(ValueError, match=message):
            bs.parse_clips(text, 8)


def test_parse_event_reads_local_dag_runners_lines():
    assert bs.parse_event("Component AudioExampleGen is running.") == ("running", "AudioExampleGen")
    assert bs.parse_event("Component Pusher is finished.") == ("finished", "Pusher")
    assert bs.parse_event("Component Trainer is running. (again)") is None
    assert bs.parse_event("Skipping component Trainer.") is None
    assert bs.parse_event("Running driver for Trainer") is None


def test_slope():
    assert bs.slope(10.0, 40.0, 4) == 1.0  # linear
    assert bs.slope(10.0, 160.0, 4) == 4.0  # quadratic
    assert bs.slope(10.0, 10.0, 4) == 0.25  # a fixed cost
    assert bs.slope(10.0, 50.0, 4) == 1.25
    assert bs.slope(0.0, 5.0, 4) is None
    assert bs.slope(0.2, 5.0, 4, floor=0.5) is None  # too small to extrapolate
    assert bs.slope(None, 5.0, 4) is None and bs.slope(5.0, None, 4) is None


def test_accounting_per_component_with_peak_reset():
    acc = bs.Accounting()
    acc.sample(50)  # before the first component: counts for the run only
    acc.start("AudioExampleGen", wall=100.0, cpu=10.0, rss=100, processes=1)
    acc.sample(700, processes=3)  # Beam's workers
    acc.sample(300, processes=3)
    acc.finish("AudioExampleGen", wall=112.5, cpu=30.0, rss=200, processes=1)
    acc.sample(900)  # between components: the run's peak, nobody's component peak
    acc.start("SchemaGen", wall=113.0, cpu=30.5, rss=120)
    acc.sample(150)
    acc.finish("SchemaGen", wall=113.25, cpu=30.75, rss=110)
    assert acc.components == [
        {"component": "AudioExampleGen", "wall_s": 12.5, "cpu_s": 20.0, "peak_rss_bytes": 700, "max_processes": 3},
        {"component": "SchemaGen", "wall_s": 0.25, "cpu_s": 0.25, "peak_rss_bytes": 150, "max_processes": 1},
    ]
    assert acc.run_peak_rss == 900 and acc.run_peak_processes == 3
    assert acc.problems == [] and acc.unfinished() is None


def test_accounting_reports_events_out_of_order():
    acc = bs.Accounting()
    acc.finish("Trainer", 1.0, 1.0, 1)
    acc.start("Trainer", 2.0, 2.0, 1)
    acc.start("Evaluator", 5.0, 4.0, 1)  # Trainer never said it finished: closed here
    assert [c["component"] for c in acc.components] == ["Trainer"]
    assert acc.components[0]["wall_s"] == 3.0
    assert acc.unfinished() == "Evaluator"
    assert acc.problems == [
        "Trainer finished while nothing was running",
        "Evaluator started while Trainer was running",
    ]


class _FakeTree:
    def __init__(self):
        self.cpu = itertools.count(0.0, 1.5)
        self.mem = itertools.count(1000, 10)

    def cpu_seconds(self):
        return next(self.cpu)

    def rss(self):
        return next(self.mem), 2


def test_component_events_from_log_records():
    """The handler takes TFX's absl lines as logged (format string and arguments), whatever else is logged."""
    acc = bs.Accounting()
    clock = itertools.count(10.0, 2.0)
    handler = bs.ComponentEvents(acc, _FakeTree(), clock=lambda: next(clock))
    logger = logging.getLogger("bench_scale_test.absl")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.info("Component %s is running.", "StatisticsGen")
        logger.info("Running executor for %s", "StatisticsGen")
        logger.info("Component %s is finished.", "StatisticsGen")
    finally:
        logger.removeHandler(handler)
    assert acc.components == [
        {"component": "StatisticsGen", "wall_s": 2.0, "cpu_s": 1.5, "peak_rss_bytes": 1010, "max_processes": 2}
    ]


def _row(stage, what, count, quarantined=0):
    return {"stage": stage, "what": what, "count": count, "quarantined": quarantined}


def test_examples_by_component_from_the_ledger():
    splits = {
        "train": [
            _row("AudioExampleGen", "files with examples", 8, quarantined=1),
            _row("AudioExampleGen", "examples written (counted in its files)", 80),
            _row("StatisticsGen", "examples profiled", 80),
            _row("SpectrogramTransform", "examples read", 80),
            _row("SpectrogramTransform", "examples written (counted in its files)", 79),
            _row("Trainer", "trained on", 79),
        ],
        "test": [
            _row("AudioExampleGen", "files with examples", 2),
            _row("AudioExampleGen", "examples written (counted in its files)", 20),
            _row("SpectrogramTransform", "examples read", 20),
            _row("SpectrogramTransform", "examples written (counted in its files)", 20),
            _row("Trainer", "scored", 20),
            _row("Evaluator", "evaluated", 20),
            _row("SklearnBaselineTrainer", "scored", None),
        ],
        "unassigned": [_row("AudioExampleGen", "files rejected before a split was known", 0, quarantined=3)],
    }
    assert bs.examples_by_component(splits) == {
        "AudioExampleGen": {"in": 8 + 1 + 2 + 3, "out": 100},
        "StatisticsGen": {"in": 80},
        "SpectrogramTransform": {"in": 100, "out": 99},
        "Trainer": {"in": 99},
        "Evaluator": {"in": 20},
        "SklearnBaselineTrainer": {},
    }


def test_tree_bytes(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "x.bin").write_bytes(b"1" * 100)
    (tmp_path / "a" / "b" / "y.bin").write_bytes(b"2" * 23)
    assert bs.tree_bytes(str(tmp_path / "a")) == 123
    assert bs.tree_bytes(str(tmp_path / "a" / "x.bin")) == 100
    assert bs.tree_bytes(str(tmp_path / "missing")) == 0


def _result(n, scale):
    """A run on n clips: AudioExampleGen linear, the Trainer quadratic, SchemaGen a fixed cost."""

    def comp(name, wall, cpu, ins=None, outs=None):
        return {
            "component": name,
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_rss_bytes": 2**30 * scale,
            "max_processes": 3,
            "examples_in": ins,
            "examples_out": outs,
            "bytes_written": 2**20 * 10 * n,
        }

    components = [
        comp("AudioExampleGen", 10.0 * scale, 18.0 * scale, n, 10 * n),
        comp("SchemaGen", 0.1, 0.1),
        comp("Trainer", 20.0 * scale**2, 30.0 * scale**2, 10 * n),
    ]
    wall = sum(c["wall_s"] for c in components) + 5
    return {
        "clips": n,
        "components": components,
        "between_components": {"wall_s": 5.0, "cpu_s": 4.0},
        "whole_run": {
            "wall_s": wall,
            "cpu_s": wall * 1.5,
            "peak_rss_bytes": 2**30 * scale,
            "bytes_written": 2**20 * 31 * n,
            "examples_in": n,
            "examples_out": 10 * n,
        },
        "trainer_epochs": 10,
        "problems": [],
        "ledger_mismatches": [],
    }


def test_compare_table_and_summary():
    sizes = [100, 400]
    results = [_result(100, 1), _result(400, 4)]
    comparison = bs.compare(sizes, results)
    rows = {r["component"]: r for r in comparison["rows"]}
    assert [r["component"] for r in comparison["rows"]] == [
        "AudioExampleGen",
        "SchemaGen",
        "Trainer",
        bs.BETWEEN,
        bs.WHOLE_RUN,
    ]
    assert comparison["size_ratio"] == 4
    assert rows["AudioExampleGen"]["wall_slope"] == rows["AudioExampleGen"]["cpu_slope"] == 1.0
    assert rows["Trainer"]["wall_slope"] == 4.0
    assert rows["SchemaGen"]["wall_slope"] is None  # 0.1 s: below MIN_SLOPE_SECONDS
    assert rows[bs.BETWEEN]["wall_slope"] == 0.25 and rows[bs.BETWEEN]["examples_in"] == [None, None]
    assert rows[bs.WHOLE_RUN]["wall_s"] == [results[0]["whole_run"]["wall_s"], results[1]["whole_run"]["wall_s"]]

    report = {
        "clips": sizes,
        "audio_format": "flac",
        "comparison": comparison,
        "trainer_epochs": [10, 5],
        "sizes": [
            {
                **r,
                "dataset": {"generated": i == 0, "seconds": 60.0, "audio_bytes": 2**20 * 3 * n},
                "bytes_ratio_audio": 31 / 3,
                "bytes_ratio_mp3": 33.0,
                "audio_ratio_mp3": 3.2,
            }
            for i, (n, r) in enumerate(zip(sizes, results))
        ],
    }
    table = bs.markdown_table(report).splitlines()
    assert table[0].startswith("| component (100 / 400 clips) | wall s | wall slope | CPU s | CPU slope |")
    assert len(table) == 2 + 5
    assert table[2] == (
        "| AudioExampleGen | 10.0 / 40.0 | 1.00 | 18.0 / 72.0 | 1.00 | 1,024 / 4,096 "
        "| 100 → 1,000 / 400 → 4,000 | 1,000.0 / 4,000.0 |"
    )
    assert table[3].startswith("| SchemaGen | 0.1 / 0.1 | - | 0.1 / 0.1 | - |")
    assert "| **4.00** |" in table[4] and table[4].endswith("| 1,000 / 4,000 | 1,000.0 / 4,000.0 |")
    assert table[5].startswith(f"| {bs.BETWEEN} | 5.0 / 5.0 | 0.25 |") and table[5].endswith("| - | - |")
    assert table[6].startswith(f"| **{bs.WHOLE_RUN}** |")

    lines = bs.summary_lines(report)
    assert lines[0].startswith("- Setup: 100 and 400 clips of 30 s, FLAC, demo.unique_fraction 1 (the clips")
    assert lines[1].startswith("- 100 clips: ") and "demo data made in 1.0 min, not timed" in lines[1]
    assert (
        "peak RSS 1.00 GiB; wrote 3.03 GiB = 10.33x the audio (300.0 MiB FLAC, 3.20x fma_small's MP3s for as many "
        "clips), 33.00x fma_small's MP3s;"
    ) in lines[1]
    assert "demo data reused (made in 1.0 min)" in lines[2]
    assert "over the goal: Trainer (4.00 / 4.00)" in lines[3]
    assert lines[4] == "- Bytes written against the audio: 10.33x, 10.33x (goal <= 2.0x)"
    # 20 s for 10 epochs, 320 s for 5: 2 and 64 s per epoch
    assert lines[5] == "- Trainer: 10 / 5 epochs (early stopping); per epoch 2.0 / 64.0 s, slope 8.00"


def test_machine_description_reads_the_cpu_model_and_avx512(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx2 fma\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx2 fma\n"
    )
    machine = bs.machine_description(str(cpuinfo))
    assert machine["cpu_model"] == "AMD EPYC" and machine["avx512"] is False
    assert machine["cpus"] >= 1 and machine["memory_bytes"] > 0
    cpuinfo.write_text("model name\t: Intel Xeon\nflags\t\t: fpu avx2 avx512f avx512bw\n")
    assert bs.machine_description(str(cpuinfo))["avx512"] is True
    unknown = bs.machine_description(str(tmp_path / "missing"))
    assert unknown["cpu_model"] is None and unknown["avx512"] is None


_MACHINE = {"cpu_model": "AMD EPYC", "cpus": 2, "avx512": False, "memory_bytes": 24 * 2**30}
_COMMIT = "df287ca0123456789"
_CODE = {"git_commit": _COMMIT, "git_dirty": False}
_CONFIG = {"demo": {"tracks_per_genre": 200, "root": "/r/demo"}, "trainer": {"epochs": 30}}


def _provenance(config=_CONFIG, machine=_MACHINE, code=_CODE):
    return {
        "finished_at": "2026-12-01T16:00:00+00:00",
        "code": code,
        "config": config,
        "machine": machine,
    }


def test_reuse_decision():
    ok = {**_result(1600, 1), "provenance": _provenance()}
    assert bs.reuse_decision(ok, _CONFIG, _MACHINE, _CODE) == (
        True,
        "reused: measured 2026-12-01T16:00:00+00:00 at commit df287ca01234",
    )
    assert bs.reuse_decision(None, _CONFIG, _MACHINE, _CODE) == (False, "no earlier result")
    changed = {**_CONFIG, "trainer": {"epochs": 5}, "demo": {**_CONFIG["demo"], "root": "/elsewhere"}}
    assert bs.reuse_decision(ok, changed, _MACHINE, _CODE) == (
        False,
        "the config changed since: demo.root, trainer.epochs",
    )
    added = {**_CONFIG, "baselines": {"svm": True}}
    assert bs.reuse_decision(ok, added, _MACHINE, _CODE)[1] == "the config changed since: baselines"
    avx512 = {**_MACHINE, "cpu_model": "Intel Xeon", "avx512": True}
    reuse, why = bs.reuse_decision(ok, _CONFIG, avx512, _CODE)
    assert not reuse and why.startswith("measured on another kind of machine: cpu_model 'AMD EPYC' -> 'Intel Xeon'")
    assert "avx512 False -> True" in why
    more_memory = {**_MACHINE, "memory_bytes": 64 * 2**30}  # not what the figures depend on
    assert bs.reuse_decision(ok, _CONFIG, more_memory, _CODE)[0]
    reuse, why = bs.reuse_decision(ok, _CONFIG, _MACHINE, {"git_commit": "e8882dc0000", "git_dirty": False})
    assert not reuse and why == "measured at other code: commit df287ca01234 (dirty: False)"
    dirty = {**ok, "provenance": _provenance(code={**_CODE, "git_dirty": True})}
    assert not bs.reuse_decision(dirty, _CONFIG, _MACHINE, _CODE)[0]
    reuse, why = bs.reuse_decision(ok, _CONFIG, _MACHINE, {**_CODE, "git_dirty": True})  # edited since
    assert not reuse and why.startswith("this checkout has uncommitted changes")
    failed = {**ok, "problems": ["Trainer never finished"]}
    assert bs.reuse_decision(failed, _CONFIG, _MACHINE, _CODE) == (False, "the earlier run had problems")
    unbalanced = {**ok, "ledger_mismatches": ["train: 10 in, 9 out"]}
    assert not bs.reuse_decision(unbalanced, _CONFIG, _MACHINE, _CODE)[0]
    older = {**_result(1600, 1), "measured_at_file_time": "2026-12-01T11:39:16+00:00"}
    reuse, why = bs.reuse_decision(older, _CONFIG, _MACHINE, _CODE)
    assert reuse and why.startswith("reused, UNVERIFIED: measured 2026-12-01T11:39:16+00:00 (file time)")


def test_code_of_run_is_the_start_state_and_unknown_when_the_checkout_changed_during_the_run():
    assert bs.code_of_run(_CODE, dict(_CODE)) == _CODE
    committed = {"git_commit": "e8882dc0000", "git_dirty": False}  # a commit landed while the run went on
    code = bs.code_of_run(_CODE, committed)
    assert code == {"git_commit": _COMMIT, "git_dirty": True, "changed_during_run": committed}
    during = {**_result(1600, 1), "provenance": _provenance(code=code)}
    reuse, why = bs.reuse_decision(during, _CONFIG, _MACHINE, _CODE)
    assert not reuse and why == "measured at other code: commit df287ca01234 (dirty: True)"


def _main_with_fake_runs(monkeypatch, tmp_path, argv):
    """bench_scale.main with the demo data and the pipeline runs faked; returns (runs made, written report)."""
    monkeypatch.setattr(
        bs,
        "_dataset",
        lambda config: {"root": "x", "clips": 0, "generated": False, "seconds": 1.0, "audio_bytes": 2**30},
    )
    written, runs = {}, []
    monkeypatch.setattr(bs, "write_report", lambda name, report: written.setdefault(name, report) and "scale.json")

    def fake_run(command, **kwargs):
        n = int(command[command.index("--child-clips") + 1])
        runs.append(n)
        path = tmp_path / f"clips-{n}" / "result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_result(n, n // 24)))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(bs.subprocess, "run", fake_run)
    assert bs.main(["--clips", "24,96", "--root", str(tmp_path), *argv]) == 0
    return runs, written["scale"]


def test_main_reuses_a_matching_earlier_result_and_reruns_a_changed_one(monkeypatch, tmp_path):
    args = bs.argparse.Namespace(
        root=str(tmp_path), config=None, overrides=[], audio_format="flac", unique_fraction=0.25
    )
    machine = bs.machine_description()
    monkeypatch.setattr(bs, "code_version", lambda: _CODE)  # the checkout running the test may be edited
    for n in (24, 96):
        config = bs.size_config(args, n, 8).model_dump(mode="json")
        if n == 96:  # measured with another trainer setting
            config["trainer"]["epochs"] += 1
        path = tmp_path / f"clips-{n}" / "result.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({**_result(n, 7), "provenance": _provenance(config, machine)}))

    runs, report = _main_with_fake_runs(monkeypatch, tmp_path, ["--reuse"])
    assert runs == [96]  # 24's result kept, 96's measured again
    assert report["sizes"][0]["reused"].startswith("reused: measured 2026-12-01T16:00:00+00:00")
    assert report["sizes"][0]["whole_run"] == _result(24, 7)["whole_run"]
    assert "reused" not in report["sizes"][1]
    assert report["machine"] == machine
    assert "; reused: measured" in bs.summary_lines(report)[1]

    runs, _ = _main_with_fake_runs(monkeypatch, tmp_path, [])  # without --reuse every size runs
    assert runs == [24, 96]
