"""A book a reader takes in at a glance [issue 36]: papermill's injected cell is folded on the page."""
import importlib.util
import json

import nbformat
import yaml

from conftest import REPO


def fold_extension():
    spec = importlib.util.spec_from_file_location("fold_injected", REPO / "book" / "_ext" / "fold_injected.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_papermills_injected_cell_is_folded_on_the_page():
    """The book's Sphinx extension tags papermill's injected-parameters cell ``hide-cell`` as it reads an executed
    chapter; every other cell, and a notebook without one, is read as written."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(REPO / "notebooks" / "01_label_regimes.ipynb"))     # as papermill reads it
    tiny = yaml.safe_load((REPO / "params" / "tiny.yaml").read_text())
    executed = nbformat.writes(parameterize_notebook(nb, tiny))
    ext = fold_extension()
    folded = json.loads(ext.fold(executed))
    before = json.loads(executed)
    tags = [c["metadata"].get("tags", []) for c in folded["cells"]]
    injected = [t for t in tags if "injected-parameters" in t]
    assert injected == [["injected-parameters", "hide-cell"]]
    assert [t for t in tags if "injected-parameters" not in t] == \
        [c["metadata"].get("tags", []) for c in before["cells"] if "injected-parameters" not in c["metadata"].get(
            "tags", [])]
    assert ext.fold(ext.fold(executed)) == ext.fold(executed)
    source = (REPO / "notebooks" / "01_label_regimes.ipynb").read_text()      # no injected cell: read as written
    assert ext.fold(source) == source
    config = yaml.safe_load((REPO / "_config.yml").read_text())["sphinx"]
    assert config["local_extensions"]["fold_injected"] == "book/_ext"
