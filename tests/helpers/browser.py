"""Headless Chromium for tests that must see a page as a person would: find (or, as root on Debian, install)
Chromium, render a local HTML file offline, return its visible text, a screenshot and every URL it requested.

The network is blocked twice: the host resolver maps every name to NOTFOUND, and Chromium's net log records
each request it still tried, so a test can assert that a page asked for nothing outside itself.
"""

from __future__ import annotations

import dataclasses
import html.parser
import json
import os
import shutil
import subprocess
import tempfile
from typing import Optional

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# Debian 12 (CI's image) packages Chromium as `chromium`; fonts-liberation gives it metric-compatible sans
# fonts (it only recommends them, and an image with no fonts renders every glyph as a box).
APT_PACKAGES = ("chromium", "fonts-liberation")
ENV_VAR = "CHROMIUM"  # an explicit binary wins over PATH
TIMEOUT_S = 60
LOCAL_SCHEMES = ("file:", "data:", "about:", "chrome:", "chrome-error:", "blob:")
BROWSER_INITIATOR = "not an origin"  # net log initiator of Chromium's own requests, not the page's


@dataclasses.dataclass(frozen=True)
class Rendered:
    text: str  # the visible text of the DOM after layout (no <head>, <style>, <script>)
    dom: str  # the serialized DOM (--dump-dom)
    screenshot: str  # PNG path
    requests: list[str]  # every URL the page requested that is not the page itself or local (file:, data:)


def find_chromium() -> Optional[str]:
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure_chromium() -> str:
    """Chromium's path; installs Debian's package when it is missing and we are root with apt-get (CI)."""
    found = find_chromium()
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        steps = ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", *APT_PACKAGES])
        for step in steps:
            result = subprocess.run(step, env=env, capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                raise RuntimeError(f"`{' '.join(step)}` failed ({result.returncode}): {result.stderr[-2000:]}")
        found = find_chromium()
        if found:
            return found
    raise RuntimeError(
        "The browser tests need Chromium and none was found on PATH (tried "
        f"{', '.join(CANDIDATES)}). Install it: `sudo apt-get install -y chromium fonts-liberation` on "
        "Debian/Ubuntu (as root these tests install it themselves), or point $CHROMIUM at a Chrome/Chromium "
        "binary, or deselect them with `-m 'not browser'`."
    )


def _base_args(chromium: str, profile: str) -> list[str]:
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--mute-audio",
        "--hide-scrollbars",
        "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm, too small for Chromium
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--window-size=1280,4000",
    ]


def _run(args: list[str]) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"Chromium failed ({result.returncode}): {' '.join(args)}\n{result.stderr[-3000:]}")
    return result.stdout


def render_page(html_path: str, screenshot_path: str, chromium: Optional[str] = None) -> Rendered:
    chromium = chromium or ensure_chromium()
    url = "file://" + os.path.abspath(html_path)
    with tempfile.TemporaryDirectory(prefix="chromium-") as work:
        net_log = os.path.join(work, "netlog.json")
        _run(
            [
                *_base_args(chromium, os.path.join(work, "shot")),
                f"--screenshot={os.path.abspath(screenshot_path)}",
                f"--log-net-log={net_log}",
                url,
            ]
        )
        dom = _run([*_base_args(chromium, os.path.join(work, "dom")), "--dump-dom", url])
        requests = requested_urls(net_log, url)
    if not os.path.exists(screenshot_path):
        raise RuntimeError(f"Chromium wrote no screenshot to {screenshot_path}")
    return Rendered(visible_text(dom), dom, screenshot_path, requests)


def render(html_path: str, screenshot_path: str) -> str:
    """The page's visible text; the screenshot (1280 px wide) is written to screenshot_path."""
    return render_page(html_path, screenshot_path).text


def requested_urls(net_log_path: str, page_url: str) -> list[str]:
    """URLs the page (not the browser itself) asked for, from a Chromium net log: URL requests minus the page
    and local schemes. Chromium's own background requests (update checks, network time, account lookups)
    carry the initiator "not an origin"; a page's subresources and navigations carry its origin ("null"
    for file://)."""
    with open(net_log_path, encoding="utf-8", errors="replace") as f:
        raw = f.read().rstrip()
    # Chromium may exit before it closes the JSON (`]}`): close it ourselves.
    try:
        log = json.loads(raw)
    except ValueError:
        log = json.loads(raw.rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = set()
    for event in log.get("events", []):
        params = event.get("params") or {}
        url = params.get("url")
        if event.get("type") != start_job or not isinstance(url, str) or params.get("initiator") == BROWSER_INITIATOR:
            continue
        if url != page_url and not url.startswith(LOCAL_SCHEMES):
            urls.add(url)
    return sorted(urls)


class _TextExtractor(html.parser.HTMLParser):
    HIDDEN = {"head", "style", "script", "noscript", "template", "title"}

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def visible_text(dom: str) -> str:
    parser = _TextExtractor()
    parser.feed(dom)
    return " ".join(parser.parts)
