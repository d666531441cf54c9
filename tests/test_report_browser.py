"""The dashboard and a student page in headless Chromium: no script errors, sorting and filtering work.

Each page is copied with two scripts of ours added (an error catcher first, a driver last) whose hashes are
added to the page's own Content-Security-Policy, so the page's policy stays in force: had it blocked the
dashboard's script, the sorting below would not happen and the violation would be reported.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import pytest

from grader.report import render_all

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).parent / "fixtures" / "results"
PASSING, FAILING, TIMEOUT, REJECTED = "2021001_张伟", "2021002_li", "2021003_wang", "2021004_zhao"

CATCHER = """window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push("error: " + e.message); });
document.addEventListener("securitypolicyviolation", function (e) {
  window.__errors.push("csp: " + e.violatedDirective + " " + e.blockedURI);
});"""

REPORT = """function report(out) {
  out.errors = window.__errors;
  var pre = document.createElement("pre");
  pre.id = "test-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}"""

DRIVE_DASHBOARD = REPORT + """
(function () {
  var table = document.getElementById("submissions");
  var filter = document.getElementById("filter");
  function header(name) {
    return table.querySelector('th[data-col="' + name + '"]');
  }
  function visible() {
    return Array.prototype.filter.call(table.tBodies[0].rows, function (r) { return !r.hidden; })
      .map(function (r) { return r.cells[0].textContent.trim(); });
  }
  function filtered(text) {
    filter.value = text;
    filter.dispatchEvent(new Event("input"));
    return {rows: visible(), shown: document.getElementById("shown-count").textContent};
  }
  var out = {initial: visible()};
  header("total").click(); out.totalAscending = visible();
  out.totalSort = header("total").getAttribute("aria-sort");
  header("total").click(); out.totalDescending = visible();
  header("time").click(); out.timeAscending = visible();
  header("jaccard").click(); out.jaccardAscending = visible();
  header("jaccard").click(); out.jaccardDescending = visible();
  header("id").click(); header("id").click(); out.idDescending = visible();
  out.filterLi = filtered("li");
  out.filterName = filtered("张伟");
  out.filterStatus = filtered("rejected");
  out.filterWords = filtered("2021 wang");
  out.filterNone = filtered("nobody-has-this");
  out.filterCleared = filtered("");
  report(out);
})();"""

CHECK_STUDENT_PAGE = REPORT + """
(function () {
  var images = Array.prototype.slice.call(document.images);
  report({
    svgs: document.querySelectorAll("figure svg").length,
    images: images.length,
    imagesLoaded: images.every(function (img) { return img.complete && img.naturalWidth > 0; }),
    title: document.querySelector("h1").textContent,
  });
})();"""


def _hash(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


def instrument(page: Path, driver: str) -> Path:
    """A copy of `page` beside it with our two scripts added and allowed by its policy."""
    html = page.read_text(encoding="utf-8")
    allowed = f"script-src {_hash(CATCHER)} {_hash(driver)} "
    html, count = re.subn(r"script-src ('none')?", allowed, html, count=1)
    assert count == 1, "the page has no script-src policy"
    html = html.replace("</head>", f"<script>{CATCHER}</script>\n</head>", 1)
    html = html.replace("</body>", f"<script>{driver}</script>\n</body>", 1)
    copy = page.with_name("browser-test-" + page.name)
    copy.write_text(html, encoding="utf-8")
    return copy


def run_in_chromium(page: Path, profile: Path) -> dict:
    return run_in_chromium_at(page.as_uri(), profile)


def run_in_chromium_at(url: str, profile: Path) -> dict:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("headless Chromium is needed: apt-get install -y chromium fonts-noto-cjk")
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="test-result">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the driver script did not run; chromium said:\n{proc.stderr[-3000:]}"
    return json.loads(unescape(found.group(1)))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "reports"
    shutil.copytree(FIXTURES, out)
    render_all(out)
    return out


def test_dashboard_sorts_and_filters_without_errors(rendered, tmp_path):
    result = run_in_chromium(instrument(rendered / "index.html", DRIVE_DASHBOARD), tmp_path / "profile")
    assert result["errors"] == []
    assert result["initial"] == [PASSING, FAILING, TIMEOUT, REJECTED]
    assert result["totalAscending"] == [REJECTED, FAILING, TIMEOUT, PASSING]
    assert result["totalSort"] == "ascending"
    assert result["totalDescending"] == [PASSING, TIMEOUT, FAILING, REJECTED]
    assert result["timeAscending"] == [REJECTED, PASSING, FAILING, TIMEOUT]
    # a rejected archive has no group scores: empty cells sort last both ways
    assert result["jaccardAscending"][0] == FAILING and result["jaccardAscending"][-1] == REJECTED
    assert result["jaccardDescending"][-2:] == [FAILING, REJECTED]
    assert result["idDescending"] == [REJECTED, TIMEOUT, FAILING, PASSING]
    assert result["filterLi"] == {"rows": [FAILING], "shown": "1"}
    assert result["filterName"] == {"rows": [PASSING], "shown": "1"}
    assert result["filterStatus"] == {"rows": [REJECTED], "shown": "1"}
    assert result["filterWords"] == {"rows": [TIMEOUT], "shown": "1"}
    assert result["filterNone"] == {"rows": [], "shown": "0"}
    assert result["filterCleared"]["shown"] == "4"


def test_student_page_loads_its_figures_and_images_without_errors(rendered, tmp_path):
    result = run_in_chromium(instrument(rendered / PASSING / "report.html", CHECK_STUDENT_PAGE),
                             tmp_path / "profile")
    assert result["errors"] == []
    assert result["svgs"] == 3  # one loss/Dice figure per training check
    assert result["images"] == 4 and result["imagesLoaded"]  # three samples and the notebook's loss plot
    assert result["title"] == "UNet 实验评分报告 / UNet lab grading report"


DRIVE_PROBLEMS = REPORT + """
(function () {
  var card = Array.prototype.filter.call(document.querySelectorAll("#counts .card"), function (c) {
    return c.textContent.indexOf("Results with problems") >= 0;
  })[0];
  var link = card.querySelector("a");
  link.click();
  var target = document.querySelector(link.getAttribute("href"));
  report({
    count: card.querySelector(".value").textContent.trim(),
    hash: location.hash,
    targetFound: target !== null,
    links: Array.prototype.map.call(target.querySelectorAll("#problem-list a"), function (a) {
      return {text: a.textContent.trim(), href: a.href};
    }),
  });
})();"""

LANDED = REPORT + """
(function () {
  var card = document.getElementById(location.hash.slice(1));
  report({card: card ? card.className : null, id: card ? card.querySelector("h3").textContent : null,
          student: document.querySelector(".header strong").textContent});
})();"""


def test_the_problems_card_counts_the_problems_and_its_links_reach_the_students(tmp_path):
    from grader.messages import text
    from grader.results import CheckResult, Environment, SubmissionInfo, SubmissionResult

    out = tmp_path / "reports"
    shutil.copytree(FIXTURES, out)  # TIMEOUT: three networks stopped at their time limit
    died = CheckResult.make("grader", "error", 0, text("评分进程两次中断", "the grading worker died twice"))
    SubmissionResult(SubmissionInfo("2021005_sun", "2021005_sun.tar.gz"), Environment("t"), checks=[died]).write(
        out / "2021005_sun" / "result.json")
    render_all(out, lang="en")

    result = run_in_chromium(instrument(out / "index.html", DRIVE_PROBLEMS), tmp_path / "profile")
    assert result["errors"] == []
    assert result["count"] == "2" and result["hash"] == "#problems" and result["targetFound"]
    texts = [link["text"] for link in result["links"]]
    assert texts == [TIMEOUT, "training/unet", "training/unet_shallow", "training/unet_add", "2021005_sun", "grader"]

    for link in result["links"]:
        page_url, _, anchor = link["href"].partition("#")
        page = Path(unquote(page_url.removeprefix("file://")))
        copy = instrument(page, LANDED)
        landed = run_in_chromium_at(f"{copy.as_uri()}#{anchor}" if anchor else copy.as_uri(), tmp_path / "profile")
        assert landed["errors"] == []
        assert landed["student"] == page.parent.name
        if anchor:  # a check's link lands on that check's card
            assert landed["id"] == link["text"] and "check" in landed["card"].split()
