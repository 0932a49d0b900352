"""What a chapter leaves behind: its results table, a machine-readable summary (claim, verdict, key numbers with
intervals, the number that decides it, provenance) that the overview page gathers (its table and forest plot), and
the verdict admonition shown on the page."""
from __future__ import annotations

import html
import json
import time
from pathlib import Path

import pandas as pd

from .errors import DDLibError
from .origin import provenance
from .paths import results_dir
from .store import atomic_write, read_json, write_json

STATUSES = ("reproduced", "partly reproduced", "not reproduced", "inconclusive")
_ADMONITION = {"reproduced": "tip", "partly reproduced": "warning", "not reproduced": "danger",
               "inconclusive": "note"}


def chapter_dir(profile: str, chapter: str):
    return results_dir() / profile / chapter


def write_csv(df: pd.DataFrame, path) -> Path:
    """``df`` as CSV, atomically, every cell that holds a dict, list or tuple (a run's config, its knobs) written as
    JSON, so that other tools read it back with ``json.loads`` instead of Python's repr text [issue 38]."""
    nested = (dict, list, tuple)
    out = df.copy()
    for col in out.columns[out.map(lambda v: isinstance(v, nested)).any()]:
        out[col] = out[col].map(lambda v: json.dumps(v) if isinstance(v, nested) else v)
    return atomic_write(path, lambda p: out.to_csv(p, index=False))


def write_results(df: pd.DataFrame, profile: str, chapter: str):
    return write_csv(df, chapter_dir(profile, chapter) / "results.csv")


def write_summary(profile: str, chapter: str, *, label: str, title: str, claim: str, status: str, headline: str,
                  sure: str, deciding: dict | None, sentence: str, key_numbers: list, params: dict, df: pd.DataFrame,
                  started: float):
    """Write ``summary.json`` for the overview page; ``key_numbers`` are dicts with name, mean, lo, hi, n (and
    optionally unit: '%' of accuracy by default, or 'points' for a difference of accuracies); ``headline`` is the
    verdict's plain first sentence, ``sure`` how sure it is, ``deciding`` the number it turns on
    (``analysis.deciding``, or None) and ``sentence`` the verdict in full [issue 36]."""
    assert status in STATUSES, status
    summary = dict(chapter=chapter, label=label, title=title, claim=claim, status=status, headline=headline,
                   sure=sure, deciding=deciding, sentence=sentence, key_numbers=key_numbers, params=params,
                   provenance=run_provenance(profile, params.get("device"), params.get("seeds"), df, started))
    write_json(chapter_dir(profile, chapter) / "summary.json", summary)
    return summary


def run_provenance(profile: str, device, seeds, df: pd.DataFrame, started: float) -> dict:
    """A chapter's provenance: the code and machine (``origin.provenance``), its profile, device and seeds, its
    runs, their code fingerprints (one per kind of run: ``fingerprint``) and how many were read back, their training
    compute and the chapter's wall time."""
    codes = sorted(df["code"].dropna().astype(str).unique()) if "code" in df else []
    return dict(provenance(), profile=profile, device=device, seeds=seeds, runs=len(df), codes=codes,
                cache_hits=int(df["cache_hit"].sum()) if "cache_hit" in df else None,
                compute_s=float(df["wall_s"].sum()) if "wall_s" in df else None, wall_s=time.time() - started,
                written=time.strftime("%Y-%m-%d %H:%M:%S %Z"))


SUMMARY_FIELDS = ("label", "title", "status", "headline", "deciding")   # what the findings table and figure read


def read_summaries(profile: str) -> list:
    """Every chapter's summary.json for ``profile``; one that is not JSON or lacks a field the book reads is a
    one-line DDLibError naming the file (run its chapter again) [issue 37]."""
    root = results_dir() / profile
    out = []
    for path in sorted(root.glob("*/summary.json")) if root.is_dir() else []:
        try:
            s = read_json(path)
        except (ValueError, OSError, RecursionError) as e:   # RecursionError: JSON nested thousands deep
            raise DDLibError(f"unreadable chapter summary {path} ({type(e).__name__}); run its chapter again") from None
        missing = [f for f in SUMMARY_FIELDS if not isinstance(s, dict) or f not in s]
        if missing:
            raise DDLibError(f"chapter summary {path} lacks {', '.join(missing)}; run its chapter again")
        out.append(s)
    return out


HEADLINE_WORDS = 40   # [issue 36] a verdict's first sentence: what was found, in plain words
CELL_CHARS = 200      # [issue 36] a verdict cell of the landing page's table, as a reader sees it


def verdict_html(v: dict) -> str:
    """A book admonition (its colour chosen by the status) holding a chapter's computed verdict ``v`` [issue 36]:
    what was found in plain words (``headline``), how sure (``sure``), then folded the verdict in full
    (``sentence``: gates, sub-claims) and each point's outcome (``details``)."""
    full = f"<p>{html.escape(v['sentence'])}</p>" if v["sentence"] != v["headline"] else ""
    items = "".join(f"<li>{html.escape(d)}</li>" for d in v["details"])
    fold = (f"<details><summary>Gates, sub-claims and each point's outcome</summary>{full}"
            f"{f'<ul>{items}</ul>' if items else ''}</details>" if full or items else "")
    sure = f"<p>{html.escape(v['sure'])}</p>" if v["sure"] else ""
    return (f'<div class="admonition {_ADMONITION[v["status"]]}"><p class="admonition-title">Verdict: '
            f'{v["status"]}</p><p>{html.escape(v["headline"])}</p>{sure}{fold}</div>')


def badge_html(status: str) -> str:
    """A verdict as a coloured badge (book/_static/findings.css colours its class) [issue 36]."""
    return f'<span class="verdict-badge verdict-{status.replace(" ", "-")}">{status}</span>'


# What a page calls a table's columns (the code's names are for the code).
PAGE_NAMES = {"val_acc": "validation accuracy (%)", "test_acc": "test accuracy (%)", "ipc": "IPC", "n": "seeds",
              "includes_zero": "interval includes zero"}
PERCENT = ("val_acc", "test_acc")   # accuracies as fractions in the code, in % on a page


def page_table(df: pd.DataFrame, index=()) -> pd.DataFrame:
    """``df`` as a reader sees it: accuracies in %, yes/no for booleans, :data:`PAGE_NAMES` for column names, and
    ``index`` (code names) as its index."""
    out = df.copy()
    for c in out.columns:
        if c in PERCENT:
            out[c] = (out[c] * 100).round(2)
        elif out[c].dtype == bool:
            out[c] = out[c].map({True: "yes", False: "no"})
    out = out.rename(columns=PAGE_NAMES)
    return out.set_index([PAGE_NAMES.get(i, i) for i in index]) if index else out


def provenance_table(summary: dict) -> pd.DataFrame:
    """A chapter's provenance (``summary["provenance"]``, :func:`run_provenance`) as the page's table."""
    p = summary["provenance"]
    seeds = ", ".join(map(str, p["seeds"])) if isinstance(p["seeds"], (list, tuple)) else p["seeds"]
    rows = {"profile": p["profile"], "device": p["device"], "GPU": p.get("gpu") or "none",
            "seeds": seeds, "runs (read from the store)": f"{p['runs']} ({p['cache_hits']})",
            "training compute, s": round(p["compute_s"] or 0, 1), "chapter wall time, s": round(p["wall_s"], 1),
            "ddlib": p["ddlib_version"], "commit": p["commit"],
            "code fingerprints of its runs": ", ".join(p.get("codes") or []) or "none",
            "torch": p["torch"], "python": p["python"], "CPU threads": p["cpu_threads"], "written": p["written"]}
    return pd.DataFrame({"value": [str(v) for v in rows.values()]}, index=list(rows))


def _number(k: dict) -> str:
    """A key number as text: a share in % ('98.1% [96.0, 100.2]') or, with unit 'points', a difference in
    accuracy points ('+5.1 points [+1.3, +8.9]')."""
    pts = k.get("unit") == "points"
    f = (lambda v: f"{v * 100:+.1f}") if pts else (lambda v: f"{v * 100:.1f}")
    ci = "" if k["lo"] != k["lo"] else f" [{f(k['lo'])}, {f(k['hi'])}]"
    return f"{k['name']}: {f(k['mean'])}{' points' if pts else '%'}{ci} (n={k['n']})"


def deciding_text(d: dict | None) -> str:
    """The number a verdict turns on, with its interval and the line the claim says it lies above."""
    return "–" if d is None else f"{_number(d)}; the claim: above {d['against']}"


def markdown_table(head: list, rows: list) -> str:
    """A Markdown table of ``head`` and ``rows`` (cells as text, Markdown allowed): every '|' in a cell escaped and
    every line break made a space, so that a cell stays one cell [issue 38: the tables were joined by hand, and a '|'
    in a cell split it]. Text from a user or a profile is HTML-escaped by the caller (:func:`_cell`)."""
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")
    return "\n".join(["| " + " | ".join(map(cell, head)) + " |", "|" + " --- |" * len(head)]
                     + ["| " + " | ".join(map(cell, r)) + " |" for r in rows])


def _cell(text: str) -> str:
    """Computed text (it may quote a profile's names) for a table cell: HTML-escaped (:func:`markdown_table` escapes
    its pipes)."""
    return html.escape(text)


FIGURE_FORMATS = ("svg", "png", "pdf")


def findings_figure(profile: str, out) -> Path:
    """The landing page's forest plot (``plots.findings_forest``) of every chapter's summary for ``profile``,
    written to ``out``, whose suffix names the format (:data:`FIGURE_FORMATS`) [issue 36]."""
    fmt = Path(out).suffix.lstrip(".").lower()
    if fmt not in FIGURE_FORMATS:
        raise DDLibError(f"findings figure {out}: name a .svg, .png or .pdf file")
    import matplotlib.pyplot as plt

    from . import plots
    fig = plots.findings_forest(read_summaries(profile))
    path = atomic_write(out, lambda tmp: fig.savefig(tmp, format=fmt, bbox_inches="tight"))
    plt.close(fig)
    return path


def findings_markdown(profile: str) -> str:
    """The 'findings at a glance' table, computed from every chapter's summary.json for ``profile``: per chapter a
    link, the verdict as a badge with its plain first sentence, and the number that decides it [issue 36]."""
    summaries = read_summaries(profile)
    if not summaries:
        return f"No chapter has written results for the `{profile}` profile yet."
    rows = [[f"{{ref}}`{s['label']}`", f"{badge_html(s['status'])} {_cell(s['headline'])}",
             _cell(deciding_text(s['deciding']))] for s in summaries]
    return "\n".join([f"Profile `{profile}`; numbers are means with 95% intervals over seeds.", "",
                      markdown_table(["claim", "verdict", "the number that decides it"], rows)])
