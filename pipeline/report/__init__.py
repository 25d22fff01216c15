"""The run report of a local run (`make report`, the summary `make run-local` and `make outputs` print).

The report itself (what is read from a run's artifacts, the HTML page, the console text) is the RunReporter
component's (components/run_reporter/), which also writes it as an artifact of every run; this package feeds
it a local run's artifacts from MLMD and the pipeline's configuration.

`collect(config, outputs)`, `write_report(config, output=None, ...) -> path` and `main(argv=None) -> int` (the
`report` command)."""

from pipeline.report.command import collect, main, write_report

__all__ = ["collect", "main", "write_report"]
