"""The page and its files, the favicon, and the API documentation served offline."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

STATIC = Path(__file__).resolve().parents[1] / "static"
#: where ``mkdocs build`` writes the documentation site in a source checkout
CHECKOUT_SITE = Path(__file__).resolve().parents[5] / "site"

NO_SITE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>digitnet: the
documentation is not built here</title><body style="font-family: sans-serif; max-width:
40em; margin: 3em auto"><h1>The documentation is not built here</h1><p>"How it works" (the
maths of every layer beside its code) is a site built from the project's <code>docs/</code>
folder. In a checkout of digitnet run
<code>pip install -e ".[docs]" &amp;&amp; mkdocs build</code>, then start
<code>digitnet serve</code> again (or give it the folder: <code>digitnet serve --learn
site/</code>): it is then served here, offline.</p>
<p><a href="/">Back to the page</a></p></body></html>"""

router = APIRouter(include_in_schema=False)


@router.get("/")
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def find_site(learn: str | Path | None) -> Path | None:
    """The built site to serve at ``/learn/``: ``learn`` when given (it must hold an
    index.html), else a source checkout's ``site/`` when built, else None."""
    if learn is not None:
        return Path(learn)
    return CHECKOUT_SITE if (CHECKOUT_SITE / "index.html").is_file() else None


@router.get("/learn/{rest:path}")
def no_site(rest: str = "") -> HTMLResponse:
    """Only reached when no site is mounted at /learn."""
    return HTMLResponse(NO_SITE, status_code=404)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")
