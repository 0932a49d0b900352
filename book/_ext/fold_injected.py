"""Fold papermill's injected-parameters cell on the page [issue 36].

papermill writes the whole profile a chapter ran with (about 50 lines) into a cell tagged ``injected-parameters``
near the top of every executed chapter. As Sphinx reads an executed notebook, this adds the ``hide-cell`` tag to that
cell, so the page shows it folded, like the parameters cell above it; the notebook file stays as papermill wrote it.
"""
import json

INJECTED, FOLDED = "injected-parameters", "hide-cell"


def fold(text: str) -> str:
    """A notebook's JSON text with ``hide-cell`` added to its injected-parameters cell (unchanged without one)."""
    nb = json.loads(text)
    cells = [c for c in nb.get("cells", []) if INJECTED in c.get("metadata", {}).get("tags", [])
             and FOLDED not in c["metadata"]["tags"]]
    for c in cells:
        c["metadata"]["tags"].append(FOLDED)
    return json.dumps(nb) if cells else text


def _source_read(app, docname, source):
    if str(app.env.doc2path(docname)).endswith(".ipynb"):
        source[0] = fold(source[0])


def setup(app):
    app.connect("source-read", _source_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
