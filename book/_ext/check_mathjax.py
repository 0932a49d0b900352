"""Make the strict build fail when the local MathJax is missing.

_config.yml serves MathJax from book/_static/mathjax/ (fetched by book/get_mathjax.sh, gitignored). Without the
file the build would still succeed and every formula would show as raw TeX; this turns that into a warning, which
`jupyter-book build -W` treats as an error.
"""
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)


def _check(app):
    if app.builder.format != "html":
        return
    path = app.config.mathjax_path
    if "://" in path or path.startswith("/"):
        return
    if any((Path(app.confdir) / static / path).is_file() for static in app.config.html_static_path):
        return
    logger.warning("MathJax not found: %s is in no html_static_path folder; run `bash book/get_mathjax.sh` "
                   "(otherwise formulas show as raw TeX)", path)


def setup(app):
    app.connect("builder-inited", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
