"""The run report: one self-contained, offline HTML page about the newest pipeline run (`make report`).

`write_report(config, output=None) -> path` and `main(argv=None) -> int` (the `report` command)."""

from pipeline.report.render import main, write_report

__all__ = ["main", "write_report"]
