"""Real browsers for the browser tests: Debian's headless Chromium driven by Playwright's Python package.

``browser("agent")`` opens a fresh Chromium for one person, with its own temporary profile (cookies, local
storage), and returns a :class:`Person`. ``person.shot("step")`` saves a screenshot of that step to
``var/test-artifacts/browser/<test>/NN-<person>-<step>.png`` (numbered across the test's people, in order);
when a test fails, every open page is saved as ``failure-<person>.png`` with its console messages, and the logs
of the test's stack (a ``stack`` fixture, when the test uses one) are copied beside them.

The browser is never downloaded (``playwright install`` is not used): ``make browser`` installs Debian's
``chromium`` and ``chromium-driver``. Without it these tests skip, unless ``SAHAYAK_TEST_BROWSER=require``.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("SAHAYAK_CHROMIUM", "/usr/bin/chromium"))
# Root, no network, no display: no sandbox, and nothing that phones home.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
TIMEOUT_MS = 20_000


def _unavailable(reason: str) -> None:
    message = f"{reason}; `make browser` installs Debian's chromium and chromium-driver"
    if os.environ.get("SAHAYAK_TEST_BROWSER") == "require":
        pytest.fail(message)
    pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures know at teardown whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


# Package scope: the driver (and its event loop) is gone before the rest of the suite runs its asyncio tests.
@pytest.fixture(scope="package")
def playwright():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("Playwright's Python package is not installed (make setup installs requirements.lock)")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as running:
        yield running


@dataclass
class Person:
    """One person at one browser: ``page`` is their tab."""
    name: str
    context: object
    page: object
    folder: Path
    counter: itertools.count
    console: list[str] = field(default_factory=list)

    def shot(self, step: str) -> Path:
        path = self.folder / f"{next(self.counter):02d}-{self.name}-{_slug(step)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "step"


@pytest.fixture
def browser(request, playwright, tmp_path):
    """A factory: ``browser(name, viewport=(width, height))`` opens a fresh Chromium for one person."""
    folder = ARTIFACTS / _slug(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    counter = itertools.count(1)
    people: list[Person] = []

    def open_person(name: str, viewport: tuple[int, int] = (1280, 800)) -> Person:
        profile = tmp_path / f"profile-{_slug(name)}-{len(people)}"
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]}, locale="en-US", timezone_id="Asia/Kolkata",
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        person = Person(_slug(name), context, page, folder, counter)
        page.on("console", lambda message: person.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: person.console.append(f"pageerror: {error}"))
        page.on("dialog", lambda dialog: dialog.accept())  # "Are you sure?" is answered yes, as a person would
        people.append(person)
        return person

    yield open_person

    failed = any(getattr(getattr(request.node, f"report_{when}", None), "failed", False) for when in ("setup", "call"))
    for person in people:
        if failed:
            try:
                person.page.screenshot(path=str(folder / f"failure-{person.name}.png"), full_page=True)
            except Exception as exc:  # the page may be the thing that broke
                person.console.append(f"(no failure screenshot: {exc})")
            (folder / f"failure-{person.name}-console.txt").write_text(
                f"url: {person.page.url}\n" + "\n".join(person.console) + "\n", encoding="utf-8")
        try:
            person.context.close()
        except Exception:
            pass
    if failed and "stack" in request.fixturenames:
        stack = request.getfixturevalue("stack")
        for log in Path(stack.log_dir).glob("*.log"):
            shutil.copy(log, folder / f"stack-{log.name}")
