"""`report --html` opened in a real browser (headless Chromium, Debian's `chromium`): the
rendered DOM shows every loop, every finding and the what-if differences, a loop id that is
markup shows as text, and the page loads nothing (checked by the browser's own resource
timing, with a control page that does load something, so the check can fail)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ..conftest import run_cli
from ..integration.test_store import make_token

pytestmark = pytest.mark.slow

EVIL_LOOP = '<script>document.title="owned"</script>'
PROBE = (
    "<script>window.addEventListener('load', () => document.body.setAttribute("
    "'data-resources', JSON.stringify(performance.getEntriesByType('resource')"
    ".map(e => e.name))));</script>"
)


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser tests: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def browser(*args: str, profile: Path) -> str:
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-default-apps", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Dom(HTMLParser):
    """What a reader sees: elements by class, their text, and every attribute."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.stack: list[tuple[str, set[str]]] = []
        self.texts: dict[str, list[str]] = {}
        self.attributes: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.body: dict[str, str] = {}
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        if tag == "body":
            self.body = {name: value or "" for name, value in attrs}
        if tag not in ("br", "meta", "line", "circle", "img", "link"):
            self.stack.append((tag, classes))
        for name in classes:
            self.texts.setdefault(name, []).append("")

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, classes in self.stack:
            for name in classes:
                self.texts[name][-1] += data


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("report")
    demo = directory / "demo"
    assert run_cli("demo", "--dir", str(demo), timeout=180).code == 0
    env = {"RECOVERY_LEDGER_DB": str(demo / "ledger.sqlite")}
    runner = subprocess.Popen(["sleep", "60"])
    try:
        registered = run_cli(
            "loop", "register", "--loop", EVIL_LOOP, "--pid", str(runner.pid),
            "--provenance", "user_created", stdin=make_token("evil"), env=env,
        )  # fmt: skip
        assert registered.code == 0, registered.stderr
    finally:
        runner.kill()
        runner.wait()
    page = directory / "incident.html"
    result = run_cli("report", "--html", str(page), "--json", env=env)
    assert result.code == 0, result.stderr
    assert page.stat().st_mode & 0o077 == 0
    return page


def rendered(page: Path, profile: Path) -> Dom:
    probed = page.with_name("probed-" + page.name)
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    return Dom(browser("--dump-dom", probed.as_uri(), profile=profile))


def test_the_page_names_no_other_resource(report: Path) -> None:
    source = report.read_text()
    dom = Dom(source)
    for tag, name, value in dom.attributes:
        if name in ("src", "href", "srcset", "action", "poster", "data"):
            assert value.startswith("#"), (tag, name, value)
    assert "@import" not in source and "url(" not in source and "@font-face" not in source
    assert "script" not in dom.tags  # recorded markup never becomes an element


def test_the_browser_shows_every_loop_finding_and_what_if(report: Path, tmp_path: Path) -> None:
    dom = rendered(report, tmp_path / "profile")
    assert json.loads(dom.body["data-resources"]) == []  # nothing requested, not even a font
    loops = [text.strip() for text in dom.texts["loop-id"]]
    assert sorted(loops) == sorted([
        "live-stale-jwt", "dead-runner", "dead-runner-cloud-active", "cloud-hiccup",
        "timed-out", "user-loop-stale", "healthy", EVIL_LOOP,
    ])  # fmt: skip
    assert dom.tags.count("script") == 1  # the probe; the loop id is text
    findings = " ".join(dom.texts["finding"])
    assert "server_zombie" in findings and "dead-runner-cloud-active" in findings
    what_ifs = dom.texts["whatif"]
    assert any("v1-legacy" in w and "finalized:unauthorized" in w for w in what_ifs)
    assert any("v2-pop-unguarded" in w and "would post a heartbeat" in w for w in what_ifs)
    assert "verified" in " ".join(dom.texts["ok"])
    rules = " ".join(dom.texts["rule"])
    assert "user_created: no PoP fallback" in rules and "runner dead: never revived" in rules


def test_the_resource_check_fails_for_a_page_that_loads_something(
    report: Path, tmp_path: Path
) -> None:
    loading = tmp_path / "loading.html"
    loading.write_text(
        report.read_text().replace("</body>", '<img src="http://127.0.0.1:9/pixel.png"></body>')
    )
    dom = rendered(loading, tmp_path / "profile")
    assert json.loads(dom.body["data-resources"]) == ["http://127.0.0.1:9/pixel.png"]


def test_report_refuses_a_directory_and_says_so_when_nothing_matches(
    report: Path, tmp_path: Path
) -> None:
    env = {"RECOVERY_LEDGER_DB": str(report.parent / "demo" / "ledger.sqlite")}
    refused = run_cli("report", "--html", str(tmp_path), env=env)
    assert refused.code == 2 and refused.stderr.count("\n") == 1
    empty = tmp_path / "empty.html"
    result = run_cli("report", "--html", str(empty), "--host", "nowhere", env=env)
    assert result.code == 0 and "no loops match --host nowhere" in result.stderr
    assert "No loop matches." in empty.read_text()


def test_other_commands_never_import_the_template_engine(report: Path) -> None:
    ledger = str(report.parent / "demo" / "ledger.sqlite")
    code = (
        "import sys\n"
        "from recovery_ledger.infra.cli.main import run\n"
        f"assert run(['loops', '--json', '--ledger', {ledger!r}]) == 0\n"
        "print(sorted(m for m in ('jinja2', 'shtab') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines()[-1] == "[]"
