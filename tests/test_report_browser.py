"""The report page in a real browser: headless Chromium opens index.html from disk, and every
image must load and be displayed, with no failed request.

Chromium's own ``--dump-dom`` is used (no Python browser driver needed). A probe script is
inserted at the top of a copy of the page: it records every resource that fails to load
(``error`` events, captured on window) and, at the ``load`` event, each image's decoded and
displayed size, into an element the dumped DOM then contains. Skipped when no Chromium is
installed; ``.ci/run`` installs Debian's ``chromium`` package.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from digitnet.report import FIGURES

PROBE = """<script>
window.__failed = [];
window.addEventListener("error", function (e) {
  var t = e.target;
  if (t && t !== window) { window.__failed.push((t.src || t.href || t.tagName) + ""); }
}, true);
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    var box = img.getBoundingClientRect();
    return {src: img.getAttribute("src"), complete: img.complete,
            natural: [img.naturalWidth, img.naturalHeight], shown: [box.width, box.height]};
  });
  var out = document.createElement("pre");
  out.id = "probe-result";
  out.textContent = JSON.stringify({failed: window.__failed, images: images,
                                    title: document.title});
  document.body.appendChild(out);
});
</script>"""

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1200,900",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "no headless browser: install Debian's `chromium` package "
            "(`apt-get install -y chromium`; .ci/run does this) to test the report page"
        )
    return path


def open_in_chromium(browser: str, report: Path, work: Path) -> dict:
    """Copy ``report`` into ``work``, add the probe, load it from disk; return the probe's
    findings (``failed`` URLs, ``images`` with their natural and displayed sizes)."""
    page_dir = work / "page"
    shutil.copytree(report, page_dir)
    index = page_dir / "index.html"
    text = index.read_text(encoding="utf-8")
    assert text.count("<head>") == 1
    index.write_text(text.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    proc = subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={work / 'profile'}", "--dump-dom", index.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', proc.stdout, flags=re.S)
    assert found, f"the page did not finish loading:\n{proc.stdout[:2000]}"
    return json.loads(html.unescape(found.group(1)))


def test_page_loads_with_every_image_displayed(chromium, digits_report, tmp_path):
    result = open_in_chromium(chromium, digits_report, tmp_path)
    assert result["failed"] == []
    assert sorted(img["src"] for img in result["images"]) == sorted(FIGURES.values())
    for img in result["images"]:
        assert img["complete"] and min(img["natural"]) > 0, img  # decoded
        assert min(img["shown"]) > 50, img  # laid out, visible
    assert result["title"] == "digitnet report: digits-mlp.npz"


def test_probe_catches_a_missing_image(chromium, digits_report, tmp_path):
    """The check above can fail: with one PNG removed the probe reports it."""
    broken = tmp_path / "broken"
    shutil.copytree(digits_report, broken)
    (broken / FIGURES["robustness"]).unlink()
    result = open_in_chromium(chromium, broken, tmp_path)
    assert [Path(u).name for u in result["failed"]] == [FIGURES["robustness"]]
    bad = [img for img in result["images"] if img["src"] == FIGURES["robustness"]]
    assert bad[0]["natural"] == [0, 0]
