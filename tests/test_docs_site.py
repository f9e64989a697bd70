"""The documentation site builds with `mkdocs build --strict`, serves everything it loads itself
(no script or style from another host: MathJax comes with the site), and its pages carry the
maths and the engine's code. Skipped when the `docs` extra is not installed."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("material")
pytest.importorskip("mkdocs_jupyter")

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.I)    # http://, https://, //host


class Loads(HTMLParser):
    """Collects what a page makes the browser fetch: script src, link href (stylesheets,
    icons, preloads...), and URLs imported by inline module scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self._in_script = True
            if a.get("src"):
                self.urls.append(a["src"])
        elif tag == "link" and a.get("href"):
            self.urls.append(a["href"])
        elif tag in ("img", "iframe", "source", "embed") and a.get("src"):
            self.urls.append(a["src"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.urls += re.findall(r"""(?:import\(|from\s)\s*["']([^"']+)["']""", data)


def external_loads(html: str) -> list[str]:
    parser = Loads()
    parser.feed(html)
    return [u for u in parser.urls if EXTERNAL.match(u.strip())]


def test_external_loads_are_recognised():
    page = ('<link rel="stylesheet" href="https://cdn.example/x.css">'
            '<script src="//cdn.example/a.js"></script><script src="assets/b.js"></script>'
            '<script type="module">const m = await import("https://cdn.example/m.mjs")</script>'
            '<a href="https://example.org/">a link is not a load</a>')
    assert external_loads(page) == ["https://cdn.example/x.css", "//cdn.example/a.js",
                                    "https://cdn.example/m.mjs"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    env.setdefault("DIGITNET_TUTORIAL_SUBSET", "5000")   # the notebook runs in the build
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                          str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    print(f"mkdocs build --strict: {time.perf_counter() - start:.1f} s")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    return out


def test_the_site_loads_nothing_from_another_host(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    found = {p.relative_to(site).as_posix(): external_loads(p.read_text()) for p in pages}
    assert {k: v for k, v in found.items() if v} == {}
    styles = {p.relative_to(site).as_posix(): re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)",
                                                      p.read_text())
              for p in site.rglob("*.css")}
    assert {k: v for k, v in styles.items() if v} == {}      # no font or image from elsewhere


def test_mathjax_is_served_with_the_site(site):
    assert (site / "assets/mathjax/tex-chtml.js").stat().st_size > 500_000
    fonts = list((site / "assets/mathjax/output/chtml/fonts/woff-v2").glob("*.woff"))
    assert len(fonts) > 10
    page = (site / "how-it-works/dense/index.html").read_text()
    assert 'src="../../assets/mathjax/tex-chtml.js"' in page


def test_how_it_works_shows_the_maths_beside_the_code(site):
    page = (site / "how-it-works/dense/index.html").read_text()
    assert r"\tag{dense-forward}" in page and 'class="arithmatex"' in page
    assert "src/digitnet/nn/layers.py, line" in page     # the engine's code, read at build
    assert "softmax_cross_entropy" in page


def test_the_tutorial_page_has_its_outputs(site):
    page = (site / "tutorial/index.html").read_text()
    assert page.count("data:image/png;base64") >= 4         # the plots, executed at build
    assert "Traceback" not in page


def test_the_reference_is_built_from_the_docstrings(site):
    page = (site / "reference/nn/index.html").read_text()
    for name in ("Dense", "Conv2D", "BatchNorm", "softmax_cross_entropy", "Adam"):
        assert f'id="digitnet.nn.{name}"' in page, name


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def served(site):
    """The built site over HTTP on the loopback (fonts and scripts as a web server sends
    them), stopped at the end."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt install chromium)")
@pytest.mark.parametrize("path,shot", [
    ("how-it-works/dense/", "docs-how-it-works-dense"),
    ("how-it-works/convolution/", "docs-how-it-works-convolution"),
    ("how-it-works/reading/", "docs-how-it-works-reading"),
    ("tutorial/", "docs-tutorial"),
])
def test_the_maths_renders_offline_in_chromium(served, path, shot):
    """Every equation is typeset by the site's own MathJax, with no request leaving the
    machine; a screenshot of the page lands in tests/artifacts/."""
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS = ROOT / "tests" / "artifacts"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        outside = []
        page.on("request", lambda r: outside.append(r.url)
                if not r.url.startswith((served, "data:", "blob:")) else None)
        page.goto(f"{served}/{path}")
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("MathJax.startup.promise")
        maths = page.locator(".arithmatex, .jp-RenderedMarkdown").count()
        typeset = page.locator("mjx-container").count()
        errors = page.locator("mjx-merror").count()
        page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=False)
        page.screenshot(path=str(ARTIFACTS / f"{shot}-full.png"), full_page=True)
        browser.close()
    assert outside == []
    assert maths > 0 and typeset > 0 and errors == 0, (maths, typeset, errors)
