"""Real Chromium for the browser tests (the ``browser`` fixture in tests/conftest.py): screenshots saved to
test-artifacts/, and axe-core (fetched once from the npm registry) to check pages for accessibility problems."""

import fcntl
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import CHROMIUM

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
AXE_VERSION = "4.10.3"
AXE_CACHE = Path.home() / ".cache" / "billing-portal-tests" / f"axe-core-{AXE_VERSION}.min.js"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if not Path(CHROMIUM).exists():
                item.add_marker(pytest.mark.skip(reason="needs Debian's chromium at /usr/bin/chromium"))


@pytest.fixture
def two_origins(live_server, settings) -> tuple[str, str]:
    """The portal at live_server's ``localhost`` origin and the vault (the test gateway's hosted fields) at
    ``127.0.0.1`` on the same server: two origins, as with a processor's fields. Set once live_server runs."""
    assert "//localhost:" in live_server.url
    settings.PORTAL_BASE_URL = live_server.url
    settings.VAULT_BASE_URL = live_server.url.replace("//localhost:", "//127.0.0.1:")
    return live_server.url, settings.VAULT_BASE_URL


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def watch(page) -> list[str]:
    """Collects what a user would call broken: 4xx/5xx answers (other than those a test expects), failed
    requests and CSP refusals."""
    problems: list[str] = []
    page.on("console", lambda message: "Refused to" in message.text and problems.append(message.text))
    page.on("requestfailed", lambda request: problems.append(f"{request.url} failed"))
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.url} answered {r.status}"))
    return problems


def summary_after(page, action) -> None:
    """Does `action` and waits, as a person would, until the summary it asks for has arrived and been swapped in
    (htmx drops the class `htmx-request` last). A faster next choice would cancel a request whose answer is still
    being read (the form's `hx-sync="this:replace"`), and a navigation would abort it."""
    with page.expect_response(lambda response: "/update/confirm" in response.url) as answer:
        action()
    answer.value.finished()
    page.wait_for_function("!document.querySelector('.htmx-request')")


def _fetch_axe() -> str:
    """axe-core from the cache, fetched first when missing; parallel test processes (pytest-xdist) take turns
    under a file lock, and the cache file appears whole (written aside, then renamed)."""
    AXE_CACHE.parent.mkdir(parents=True, exist_ok=True)
    with open(AXE_CACHE.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not AXE_CACHE.exists():
            workdir = AXE_CACHE.parent
            output = (
                subprocess.run(
                    ["npm", "pack", f"axe-core@{AXE_VERSION}", "--silent"],
                    cwd=workdir,
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            partial = AXE_CACHE.with_suffix(".partial")
            with tarfile.open(workdir / output) as archive:
                partial.write_bytes(archive.extractfile("package/axe.min.js").read())
            partial.replace(AXE_CACHE)
            (workdir / output).unlink()
    return AXE_CACHE.read_text()


@pytest.fixture(scope="session")
def axe_source() -> str:
    return _fetch_axe()


def axe_violations(page, axe_source: str, *, impacts=("serious", "critical")) -> list[str]:
    """Runs axe-core in the page (WCAG 2.1 A and AA rules) and returns the serious and critical violations.
    The script is evaluated through the DevTools protocol, which the page's CSP does not govern, so the page
    keeps the same strict policy as in production."""
    page.evaluate(f"() => {{ {axe_source}\n;window.axe = axe; }}")
    result = page.evaluate(
        """async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {json.dumps([n['target'] for n in v['nodes']][:3])}"
        for v in result["violations"]
        if v["impact"] in impacts
    ]
