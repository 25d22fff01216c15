"""The report as one self-contained HTML file: Jinja2 template (report.html.j2 beside this module), inline
CSS, charts as inline SVG. Nothing on the page is fetched: it opens offline, from a mail attachment or a
bucket, as it was written.
"""

from __future__ import annotations

import logging
import math
import os

import jinja2
from markupsafe import Markup

from components.run_reporter import charts

TEMPLATE = "report.html.j2"

_log = logging.getLogger(__name__)


def _missing(value) -> bool:
    return value is None or isinstance(value, jinja2.Undefined)


def _pct(value, digits: int = 1) -> str:
    if _missing(value) or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{100 * value:.{digits}f}%"


def _score(value) -> str:
    """A model's accuracy or F1 as a percentage; "n/a" where the run's metrics do not hold it."""
    return "n/a" if _missing(value) else _pct(value)


def _num(value, digits: int = 4) -> str:
    if _missing(value):
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if abs(value) < 1e-12:  # float noise (e.g. a divergence of 8e-17 between equal distributions)
            value = 0.0
        return f"{value:.{digits}g}" if value and (abs(value) >= 1e5 or abs(value) < 1e-3) else f"{value:.{digits}f}"
    return str(value)


def _signed(value, digits: int = 4) -> str:
    return "–" if _missing(value) else f"{value:+.{digits}f}"


def build_charts(report: dict) -> dict:
    """SVG markup per chart, from the collected data (the template only places them)."""
    result = {"confusion": [], "loss": "", "accuracy": "", "comparison": ""}
    genres = report["genres"]
    if report["confusion"]["available"]:
        result["confusion"] = [
            {"title": m["title"], "svg": charts.heatmap(m["matrix"], genres)} for m in report["confusion"]["matrices"]
        ]
    training = report["training"]
    if training["available"]:
        epochs = training["epochs"]
        markers = []
        if training["best_epoch"] is not None:
            markers.append((training["best_epoch"], f"best epoch {training['best_epoch']} (lowest val loss)"))
        markers += [(epoch - 0.5, f"{phase} phase") for epoch, phase in training["phase_changes"]]
        shade = (
            {"shade_from": training["overfit_from"], "shade_label": "val loss rising: overfitting"}
            if training["overfit_from"] is not None
            else {}
        )
        for metric, title in (("loss", "Loss per epoch"), ("accuracy", "Accuracy per epoch")):
            series = [
                {
                    "label": "train",
                    "color": charts.TRAIN_COLOR,
                    "points": [(e["epoch"], e.get(metric)) for e in epochs],
                },
                {
                    "label": "validation (eval split)",
                    "color": charts.VALIDATION_COLOR,
                    "dashed": True,
                    "points": [(e["epoch"], e.get(f"val_{metric}")) for e in epochs],
                },
            ]
            result[metric] = charts.line_chart(series, title, "epoch", metric, markers=markers, **shade)
    if report["comparison"]["available"]:
        rows = report["comparison"]["rows"]
        result["comparison"] = charts.bar_chart(
            [(r["name"], r["accuracy"], r["keras"]) for r in rows],
            "Test accuracy",
            reference=[(report["evaluator_floor"], f"floor {report['evaluator_floor']:.0%}")],
        )
    return result


class Absent(jinja2.ChainableUndefined):
    """A value an older or partial artifact lacks: shown as a dash, never an error (the report of a failed
    run matters most)."""

    def __str__(self) -> str:
        return "–"


def render_html(report: dict) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.dirname(os.path.abspath(__file__))),
        autoescape=True,
        undefined=Absent,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(pct=_pct, num=_num, signed=_signed, score=_score)
    svgs = build_charts(report)
    # Our own SVG, every text in it escaped by charts.py.
    svgs = {
        k: (Markup(v) if isinstance(v, str) else [{**item, "svg": Markup(item["svg"])} for item in v])
        for k, v in svgs.items()
    }
    return environment.get_template(TEMPLATE).render(r=report, charts=svgs)


def write_html(report: dict, path: str) -> str:
    """Renders `report` (collect()'s dict) to `path` (local or gs://); returns the path."""
    import tensorflow as tf

    parent = os.path.dirname(path)
    if parent:
        tf.io.gfile.makedirs(parent)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(render_html(report))
    return path
