"""The whole pipeline on a larger demo, its example ledger checked stage by stage (make bench-ledger).

Default: 100 tracks per genre, 800 clips of 30 s, 8,000 segments of 3 s, on the local default runner
(DirectRunner, one worker process per core). Every component checks its own counts against its upstream
artifact's record while it runs; this then rebuilds the ledger from the artifacts and prints it per split.
Exit status 1 when anything does not balance. The demo data is kept under --root and reused; the pipeline
outputs are made afresh each time (no cached component).

    make bench-ledger                       # 800 clips: demo data ~8 min once, the run ~12-20 min on 2 cores
    make bench-ledger BENCH_ARGS="--tracks-per-genre 20"
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import components  # noqa: F401  (Keras 2 before TensorFlow: see components/__init__.py)
from pipeline.cli_common import add_config_arguments, configure_logging
from pipeline.config import load_config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--tracks-per-genre", type=int, default=100)
    parser.add_argument("--root", default="build/bench/ledger", help="demo data and pipeline outputs go here")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.root)
    runs = os.path.join(root, "runs")
    shutil.rmtree(runs, ignore_errors=True)
    overrides = [
        f"demo.tracks_per_genre={args.tracks_per_genre}",
        f"demo.root={root}/demo-{args.tracks_per_genre}",
        f"output_root={runs}",
        *args.overrides,
    ]
    config = load_config(args.config, overrides)
    configure_logging(os.path.join(runs, "bench-ledger.log"))

    from components.run_reporter import ledger
    from pipeline import local_runner

    local_runner.prepare_dataset(config)  # made once, outside the timing
    started = time.monotonic()
    outputs = local_runner.run(config)
    seconds = time.monotonic() - started
    balance = ledger.build(outputs)
    print("\n".join(ledger.lines(balance)))
    examples = sum(
        r["count"]
        for split, table in balance["splits"].items()
        for r in table
        if r["stage"] == "AudioExampleGen" and r["what"].startswith("examples written")
    )
    result = {
        "tracks_per_genre": args.tracks_per_genre,
        "examples": examples,
        "seconds": round(seconds, 1),
        "balanced": balance["balanced"],
        "mismatches": balance["mismatches"],
        "ledger": balance["splits"],
    }
    os.makedirs("build/bench", exist_ok=True)
    with open("build/bench/ledger.json", "w") as f:
        json.dump(result, f, indent=1)
    print(
        f"{examples} examples through every stage in {seconds / 60:.1f} min (demo data excluded); "
        f"ledger {'balances' if balance['balanced'] else 'DOES NOT BALANCE'}; figures in build/bench/ledger.json"
    )
    return 0 if balance["balanced"] else 1


if __name__ == "__main__":
    sys.exit(main())
