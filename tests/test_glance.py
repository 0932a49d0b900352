"""A book a reader takes in at a glance [issue 36]: every chapter's verdict opens with a short plain sentence and
says how sure it is before its gates, and papermill's injected cell is folded on the page. The verdicts come from the
chapters' own planted-result tests."""
import html
import importlib.util
import json
import re

import nbformat
import pytest
import yaml

import test_difficulty_cad_chapters as t45
import test_hard_labels as t03
import test_label_regimes as t01
import test_saturation as t02
from conftest import REPO
from ddlib import report
from ddlib.findings import label_regimes
from ddlib.profile import Profile


def _ch01(gains, seeds=(0, 1, 2, 3, 4)):
    return label_regimes.analyse(t01.synthetic(gains, seeds=seeds), t01.params(seeds=seeds))["verdict"]


def _ch02(p=None, **kw):
    return t02.verdict(t02.frame(**kw), p or t02.params())[0]


def _ch04(acc, checks=None):
    df = t45.planted_bins(acc)
    p = Profile(compute_budgets=sorted(set(df["budget"])), difficulty_ipcs=[10], bins=3, seeds=list(t45.SEEDS))
    table = t45.ch04.accuracy_table(df, p)
    return t45.ch04.verdict(table, t45.ch04.best_bins(table), t45.ch04.shift(df, p), p, checks=checks)


def _ch05(gain, checks=None):
    df, p = t45.planted_sets(ca2d_gain=gain), Profile(cad_budgets=[3200], cad_ipcs=[10], seeds=list(t45.SEEDS))
    return t45.ch05.verdict(t45.ch05.comparisons(df, t45.ch05.accuracy_table(df, p), p), p, checks)


FAILED_GATE = {3200: t45.ch05.gate("CAD-Prune's scoring run trains at 3,200", False, "0.06 passes")}
# Each chapter's verdict on the planted results of its own tests: every status, a failed gate, a long method list.
VERDICTS = {
    "label_regimes, reproduced": lambda: _ch01({("HL", 1): 0.06, ("HL", 10): 0.05}),
    "label_regimes, soft gains equal HL": lambda: _ch01({(a, i): 0.05 for a in ("HL", "SL", "SL+KD") for i in (1, 10)}),
    "label_regimes, HL below random": lambda: _ch01({("HL", 1): -0.05, ("HL", 10): -0.05}),
    "label_regimes, no gain, gate failed": lambda: _ch01({}),
    "saturation, reproduced": lambda: _ch02(slkd=0.99, hl=0.7),
    "saturation, far from full data": lambda: _ch02(slkd=0.8, hl=0.7),
    "saturation, level with HL": lambda: _ch02(slkd=0.99, hl=0.99),
    "saturation, gates failed": lambda: _ch02(slkd=0.99, hl=0.7, doubling_gain=0.03, teacher_gain=-0.01),
    "hard_labels, reproduced": lambda: t03.verdict(t03.planted({"rded": 0.03}, coreset_gain=0.06)),
    "hard_labels, every method beats random": lambda: t03.verdict(
        t03.planted({"dm": 0.08, "dc": 0.08, "mtt": 0.08, "sre2l": 0.08, "rded": -0.03}, coreset_gain=-0.06)),
    "hard_labels, one set per seed": lambda: t03.verdict(t03.planted({"rded": 0.0}), t03.params(distill_seed=0)),
    "difficulty, reproduced": lambda: _ch04({800: [0.06, 0.03, -0.02], 12_800: [0.0, 0.03, 0.07]}),
    "difficulty, fixed gap": lambda: _ch04({800: [0.06, 0.03, -0.02], 12_800: [0.06, 0.03, -0.02]}),
    "difficulty, shrinking gap, gate failed": lambda: _ch04(
        {800: [0.0, 0.03, 0.07], 12_800: [0.06, 0.03, -0.02]},
        [t45.ch04.gate("the difficulty scorer trains", False, "0.5 passes")]),
    "cad_prune, reproduced": lambda: _ch05(0.06),
    "cad_prune, not reproduced": lambda: _ch05(0.0),
    "cad_prune, gate failed": lambda: _ch05(0.06, FAILED_GATE),
}


@pytest.mark.parametrize("case", sorted(VERDICTS))
def test_every_verdict_opens_with_a_short_plain_sentence_then_says_how_sure(case):
    v = VERDICTS[case]()
    words = v["headline"].split()
    assert len(words) <= report.HEADLINE_WORDS, v["headline"]
    assert v["headline"].endswith(".") and v["headline"].count(". ") == 0, v["headline"]     # one sentence
    assert not re.search(r"gate|criterion|at this scale", v["headline"]), v["headline"]      # what was found
    assert "detect a true effect" in v["sure"]                                                # then how sure
    assert ("not met" in v["sure"]) == any(not g["passed"] for g in v.get("gates", []))
    d = v["deciding"]
    assert {"name", "mean", "lo", "hi", "n", "threshold", "against"} <= set(d) and d["lo"] <= d["mean"] <= d["hi"]


def test_a_verdict_box_leads_with_what_was_found_and_folds_the_gates():
    v = VERDICTS["hard_labels, one set per seed"]()
    box = report.verdict_html(dict(v, headline=v["headline"].replace("RDED", "<b>RDED</b>")))   # names are escaped
    assert "&lt;b&gt;RDED&lt;/b&gt;" in box and "<b>" not in box
    found, sure, fold = box.index("&lt;b&gt;"), box.index(html.escape(v["sure"])), box.index("<details>")
    assert found < sure < fold and box.index(html.escape(v["sentence"])) > fold          # the gates come folded
    assert all(html.escape(d) in box[fold:] for d in v["details"]) and 'class="admonition note"' in box
    short = dict(status="inconclusive", headline="The sweep has no HL results.", sure="", deciding=None,
                 sentence="The sweep has no HL results.", details=[])
    assert "<details>" not in report.verdict_html(short)             # nothing to fold: no empty fold


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
