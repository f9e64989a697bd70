"""MkDocs hooks of the digitnet site (mkdocs.yml ``hooks:``).

1. MathJax is served with the site: its browser bundle and fonts are copied from the
   ``django-static-mathjax`` wheel (MathJax 3.2.2 as released, in the ``docs`` extra) into
   ``assets/mathjax/``; no page loads anything from another host.
2. ``!source dotted.name`` on a line of its own becomes the current source code of that
   function, method or class, read from the package (so a page shows the engine's real code,
   never a copy that can drift); an unknown name fails the build.
3. The notebook page (mkdocs-jupyter, through nbconvert's template) carries nbconvert's
   MathJax 2 and Mermaid loaders, both pointing at a CDN: they are removed, the site's own
   MathJax typesets the notebook's maths too (docs/assets/mathjax-config.js).
"""

from __future__ import annotations

import importlib
import inspect
import re
import textwrap
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
#: what of MathJax's es5 folder the site needs: the TeX -> HTML bundle, the extensions that
#: its autoload may fetch, and the CHTML fonts
MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2")
SOURCE_LINE = re.compile(r"^!source +([A-Za-z_][\w.]*) *$", re.M)


def mathjax_dir() -> Path:
    try:
        import mathjax  # the django-static-mathjax wheel's package: MathJax's static files
    except ImportError:
        raise PluginError("MathJax is missing: pip install -e '.[docs]' (django-static-mathjax)"
                          ) from None
    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def on_files(files, config):
    """Add MathJax's files to the site, under assets/mathjax/."""
    es5 = mathjax_dir()
    for part in MATHJAX_PARTS:
        path = es5 / part
        for src in ([path] if path.is_file() else sorted(p for p in path.rglob("*")
                                                         if p.is_file())):
            uri = "assets/mathjax/" + src.relative_to(es5).as_posix()
            files.append(File.generated(config, uri, abs_src_path=str(src)))
    return files


def resolve(dotted: str):
    """``digitnet.nn.layers.Dense.forward`` -> the object (module, then attributes)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def source_block(dotted: str) -> str:
    try:
        obj = inspect.unwrap(resolve(dotted))
        lines, start = inspect.getsourcelines(obj)
        path = Path(inspect.getsourcefile(obj)).resolve().relative_to(ROOT)
    except (ImportError, AttributeError, TypeError, OSError, ValueError) as exc:
        raise PluginError(f"!source {dotted}: cannot show its code ({exc})") from None
    code = textwrap.dedent("".join(lines)).rstrip()
    title = f"{path.as_posix()}, line {start}"
    return f'```python title="{title}" linenums="{start}"\n{code}\n```'


def on_page_markdown(markdown, page, config, files):
    return SOURCE_LINE.sub(lambda m: source_block(m.group(1)), markdown)


_NBCONVERT_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->",
                                re.S)
_MODULE_SCRIPT = re.compile(r'<script type="module">.*?</script>', re.S)


def on_post_page(output, page, config):
    if page.file.src_uri.endswith(".py"):          # the notebook (mkdocs-jupyter)
        output = _NBCONVERT_MATHJAX.sub("", output)
        output = _MODULE_SCRIPT.sub(lambda m: "" if "mermaid" in m.group(0) else m.group(0),
                                    output)
    return output
