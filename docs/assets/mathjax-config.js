// MathJax 3 (served from assets/mathjax/, copied by docs/_scripts/hooks.py): typeset the
// maths of pymdownx.arithmatex (\( \) and \[ \] in .arithmatex) and of the notebook's
// Markdown cells ($ $ and $$ $$ in .jp-RenderedMarkdown); nothing else on a page.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
    tags: "none",
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown",
  },
};
