"""The quickstart notebook run in a real JupyterLab, driven by a real Chromium.

JupyterLab starts from the project environment on a free localhost port, with its own token
and with every Jupyter directory (config, data, runtime, settings, workspaces) and HOME in a
temporary folder, so nothing of the user's setup leaks in and nothing leaks out. Chromium opens
``01_quickstart.ipynb``, runs all cells from the Run menu and the test checks what a user would
see: no error output, the data-flow diagram drawn, the explorer widget rendered and working
(selecting a finding shows its detail). The screenshot of the explorer goes to
``reports/screenshots/jupyterlab_explorer.png``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO_ROOT, in_ci, require_tool

try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - playwright is a dev dependency
    if in_ci():
        raise
    pytest.skip("playwright is not installed", allow_module_level=True)

NOTEBOOK = "01_quickstart.ipynb"
SCREENSHOT = REPO_ROOT / "reports" / "screenshots" / "jupyterlab_explorer.png"
START_TIMEOUT = 45.0  # seconds for the server to answer
RUN_TIMEOUT_MS = 60_000  # for all cells to finish
#: User settings: no news or update toasts over the page, and every cell kept in the DOM
#: (JupyterLab otherwise skips rendering cells scrolled out of view).
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
FINDING_ID = re.compile(r"MT-[A-Z0-9-]+@[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its URL (without token), token and log file."""

    url: str
    token: str
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int, path: str) -> bool:
    """True when the server on localhost ``port`` answers ``GET path`` with 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _copy_without_outputs(source: Path, target: Path) -> None:
    """Copy a notebook as a user gets it fresh: no stored outputs, counts or widget state, so
    everything the test sees comes from running it now."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["metadata"].pop("widgets", None)
    target.write_text(json.dumps(notebook, indent=1), encoding="utf-8")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and everything it started (kernels), by its process group."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab serving a copy of notebooks/ (the notebook writes ../reports next to it)."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "notebooks"
    root.mkdir()
    _copy_without_outputs(REPO_ROOT / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    shutil.copytree(REPO_ROOT / "notebooks" / "models", root / "models")
    home, config, data, runtime = (base / name for name in ("home", "config", "data", "run"))
    settings = config / "lab" / "user-settings"
    for name, values in SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values), encoding="utf-8")
    for folder in (home, data, runtime):
        folder.mkdir()
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(config),
           "JUPYTER_DATA_DIR": str(data), "JUPYTER_RUNTIME_DIR": str(runtime),
           "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces")}
    env.pop("JUPYTER_PATH", None)
    token, port = secrets.token_hex(16), _free_port()
    log = base / "jupyterlab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser",
             f"--IdentityProvider.token={token}", f"--ServerApp.port={port}",
             "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True",
             "--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(port, f"/api/status?token={token}"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start; its log:\n"
                            + log.read_text(encoding="utf-8", errors="replace")[-3000:])
            time.sleep(0.3)
        yield Lab(url, token, log)
    finally:
        _stop(process)


def _run_all(page: Page) -> None:
    """Run all cells from the menu bar, as a user does, and wait until every cell ran."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=RUN_TIMEOUT_MS)


def test_quickstart_runs_in_jupyterlab_and_explorer_works(lab: Lab) -> None:
    chromium = require_tool("chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.set_default_timeout(30_000)
            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
            page.locator(".jp-Notebook .jp-CodeCell").first.wait_for()
            # The kernel is up when the status bar names it and says it is idle.
            page.locator(".jp-StatusBar-Widget").filter(
                has_text=re.compile(r"Python 3.*\|\s*Idle")).first.wait_for()
            _run_all(page)

            errors = page.locator(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            assert errors.count() == 0, "error or warning output:\n" + "\n---\n".join(
                errors.all_inner_texts())

            # The data-flow diagram: an SVG output that the browser drew with a real size.
            svg = page.locator('.jp-OutputArea-output[data-mime-type="image/svg+xml"] img')
            assert svg.count() >= 1
            svg.first.scroll_into_view_if_needed()
            box = svg.first.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 150
            assert svg.first.evaluate("img => img.complete && img.naturalWidth") > 0

            # The explorer: filters, the findings list and the detail tabs.
            widget = page.locator(".jp-OutputArea-output").filter(
                has=page.locator(".mt-findings")).last
            widget.wait_for()
            for label in ("STRIDE", "Residual risk", "Acceptability", "Element", "Search"):
                assert widget.get_by_text(label, exact=True).count() >= 1, label
            assert widget.get_by_role("tab", name="Finding").count() == 1
            options = widget.locator(".mt-findings select option")
            assert options.count() > 10

            # Select a finding: its detail replaces the first one's.
            label = options.nth(2).inner_text()
            chosen = FINDING_ID.search(label)
            assert chosen, label
            widget.locator(".mt-findings select").select_option(index=2)
            detail = widget.locator(".widget-tab-contents, .lm-TabPanel-stackedPanel").first
            detail.get_by_text(chosen.group(0)).first.wait_for()

            # The screenshot: the notebook without the file browser, the explorer at the top.
            page.get_by_role("tab", name="File Browser").click()
            page.locator("#jp-left-stack").wait_for(state="hidden")
            widget.evaluate("output => output.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)  # let the layout settle after the sidebar closed
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
