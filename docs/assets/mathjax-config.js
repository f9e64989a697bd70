// MathJax 3, served from assets/mathjax/ (copied from the django-static-mathjax wheel by
// docs/_scripts/hooks.py): nothing is loaded from another host.
// Pages: typeset only the maths of pymdownx.arithmatex (\( \) and \[ \] in .arithmatex).
// The notebook page (its Markdown cells rendered by nbconvert): $ $ and $$ $$ in its cells.
// Material loads this at the end of <body>, so the page's elements are already there.
(function () {
  const notebook = document.querySelector(".jp-Notebook") !== null;
  window.MathJax = {
    tex: {
      inlineMath: notebook ? [["$", "$"], ["\\(", "\\)"]] : [["\\(", "\\)"]],
      displayMath: notebook ? [["$$", "$$"], ["\\[", "\\]"]] : [["\\[", "\\]"]],
      processEscapes: true,
      processEnvironments: true,
      tags: "none",
    },
    options: notebook
      ? { ignoreHtmlClass: "tex2jax_ignore" }              // code and outputs are <pre>: skipped
      : { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
  };
})();
