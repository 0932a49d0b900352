"""A book a reader takes in at a glance [issue 36]: every chapter's verdict opens with a short plain sentence and
says how sure it is before its gates, the landing page's table has a badge, that sentence and the deciding number
per chapter, the forest plot draws those numbers in the badges' colours, and papermill's injected cell is folded on
the page. The verdicts come from the chapters' own planted-result tests; the f678ea1 summaries (benchmarks/) give an
older build's real numbers."""
import html
import importlib.util
import json
import re

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import nbformat
import pytest
import yaml

import test_difficulty_cad_chapters as t45
import test_hard_labels as t03
import test_label_regimes as t01
import test_saturation as t02
from conftest import REPO
from ddlib import cli, plots, report
from ddlib.errors import DDLibError
from ddlib.findings import CHAPTERS, label_regimes
from ddlib.profile import Profile
from ddlib.store import write_json

BY_NAME = {c.name: c for c in CHAPTERS}
F678EA1 = json.loads((REPO / "benchmarks" / "book_summaries_f678ea1.json").read_text())


def _ch01(gains, seeds=(0, 1, 2, 3, 4), noise=0.002):
    return label_regimes.analyse(t01.synthetic(gains, seeds=seeds, noise=noise), t01.params(seeds=seeds))["verdict"]


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
    "label_regimes, no gain, gate failed": lambda: _ch01({}, noise=0.02),
    "label_regimes, no gain, refuted": lambda: _ch01({}),
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


def summary_of(name: str, v: dict) -> dict:
    """What ``findings.write`` puts in summary.json of a verdict (less its provenance)."""
    c = BY_NAME[name]
    return dict(chapter=c.chapter, label=c.label, title=c.title, claim=c.claim, status=v["status"],
                headline=v["headline"], sure=v["sure"], deciding=v["deciding"], sentence=v["sentence"],
                key_numbers=v["key_numbers"])


def table_rows(markdown: str) -> list:
    """The findings table's rows as [chapter, verdict, number] cells."""
    rows = [line for line in markdown.splitlines() if line.startswith("| {ref}")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows]


def visible(cell: str) -> str:
    """A table cell as a reader sees it: no tags, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", cell)).replace("\\|", "|")


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


@pytest.mark.parametrize("case", sorted(VERDICTS))
def test_every_verdicts_landing_page_row_has_a_badge_a_short_cell_and_its_deciding_number(case, tmp_path,
                                                                                          monkeypatch):
    v = VERDICTS[case]()
    d = v["deciding"]
    monkeypatch.setenv("DDLIB_RESULTS", str(tmp_path))
    name = case.split(",")[0]
    write_json(report.chapter_dir("quick", BY_NAME[name].chapter) / "summary.json", summary_of(name, v))
    [(link, verdict, number)] = table_rows(report.findings_markdown("quick"))
    assert link == f"{{ref}}`{BY_NAME[name].label}`"
    assert verdict.startswith(f'<span class="verdict-badge verdict-{v["status"].replace(" ", "-")}">')
    assert len(visible(verdict)) <= report.CELL_CHARS, visible(verdict)
    assert visible(number).startswith(d["name"]) and "[" in number and d["against"] in visible(number)


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


def test_a_summary_without_a_headline_asks_for_its_chapter_again(tmp_path, monkeypatch):
    """The f678ea1 summaries predate issue 36: the landing page asks for the chapter again, in one line."""
    monkeypatch.setenv("DDLIB_RESULTS", str(tmp_path))
    old = F678EA1["01_label_regimes"]
    c = BY_NAME["label_regimes"]
    write_json(report.chapter_dir("quick", c.chapter) / "summary.json", dict(old, label=c.label, title=c.title))
    with pytest.raises(DDLibError, match="lacks headline, deciding; run its chapter again") as e:
        report.findings_markdown("quick")
    assert "\n" not in str(e.value)


def f678ea1_summaries() -> list:
    """The f678ea1 summaries, each with its first key number as the deciding one (the threshold: 0, or 95% of
    full-data accuracy for chapter 02's share) and a stand-in first sentence."""
    out = []
    for c in CHAPTERS:
        s = F678EA1.get(c.chapter)
        if s:
            share = c.name == "saturation"
            d = dict(s["key_numbers"][0], threshold=0.95 if share else 0.0,
                     against="95% of full-data accuracy" if share else "zero")
            out.append(dict(s, chapter=c.chapter, label=c.label, title=c.title, headline="Found.", deciding=d))
    return out


def test_the_forest_plot_draws_each_deciding_number_against_its_line_in_its_verdicts_colour():
    summaries = f678ea1_summaries()
    fig = plots.findings_forest(summaries)
    ax = fig.axes[0]
    points = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(points) == len(summaries) == 5
    for line, s in zip(points, summaries):
        d = s["deciding"]
        assert line.get_xdata()[0] == pytest.approx((d["mean"] - d["threshold"]) * 100)
        assert mcolors.to_hex(line.get_color()) == mcolors.to_hex(plots.STATUS_COLORS[s["status"]])
    labels = [" ".join(t.get_text().split("\n")) for t in ax.get_yticklabels()]
    assert all(label.startswith(s["title"]) for label, s in zip(labels, summaries))
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {s["status"] for s in summaries}
    plt.close(fig)
    empty = plots.findings_forest([dict(summaries[0], deciding=None)])
    assert "No chapter has a deciding number yet." in [t.get_text() for t in empty.axes[0].texts]
    plt.close(empty)


def test_the_findings_figure_command_writes_the_landing_pages_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DDLIB_RESULTS", str(tmp_path / "results"))
    for s in f678ea1_summaries():
        write_json(report.chapter_dir("quick", s["chapter"]) / "summary.json", s)
    out = tmp_path / "findings.svg"
    assert cli.main(["findings-figure", "--profile", "quick", "--out", str(out)]) == 0
    assert out.read_text().lstrip().startswith("<?xml") and "<svg" in out.read_text()
    capsys.readouterr()
    assert cli.main(["findings-figure", "--profile", "quick", "--out", str(tmp_path / "findings.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".svg, .png or .pdf" in err
    assert "findings-figure --profile $(PROFILE) --out book/_generated/findings.svg" in (REPO / "Makefile").read_text()
    assert "```{figure} _generated/findings.svg" in (REPO / "book" / "intro.md").read_text()


def test_the_badges_wear_the_forest_plots_colours():
    css = (REPO / "book" / "_static" / "findings.css").read_text()
    colours = dict(re.findall(r"\.verdict-([a-z-]+) \{ background-color: (#[0-9a-f]{6}); \}", css))
    assert colours == {s.replace(" ", "-"): mcolors.to_hex(c) for s, c in plots.STATUS_COLORS.items()}
    assert set(plots.STATUS_COLORS) == set(report.STATUSES)
    config = yaml.safe_load((REPO / "_config.yml").read_text())["sphinx"]
    assert "findings.css" in config["config"]["html_css_files"]


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
    tiny = yaml.safe_load((REPO / "ddlib" / "profiles" / "tiny.yaml").read_text())
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


def test_a_markdown_table_keeps_a_pipe_or_a_line_break_inside_its_cell():
    """[issue 38] One table writer for every generated page (plan, provenance, spot check, findings): a '|' in a cell
    is escaped and a line break made a space, so every row has the header's cells."""
    from ddlib.report import markdown_table
    text = markdown_table(["a", "b|c"], [["x|y", "1\n2"], ["`k|v`", 3]])
    lines = text.splitlines()
    assert lines[0] == "| a | b\\|c |" and lines[1] == "| --- | --- |"
    assert lines[2] == "| x\\|y | 1 2 |" and lines[3] == "| `k\\|v` | 3 |"
    assert all(line.replace("\\|", "").count("|") == 3 for line in lines)
