"""The real-browser site check [issue 36] on small planted pages: a clean page passes; a page wider than the window,
a table cut off by its scrolling box, a broken image and figures without captions each fail, named. One headless
Chromium serves the whole file; it is skipped where Debian's chromium, chromium-driver or selenium is absent."""
from __future__ import annotations

import base64
from contextlib import nullcontext

import pytest

from ddlib import cli, sitecheck
from ddlib.errors import DDLibError

pytestmark = pytest.mark.skipif(sitecheck.unavailable() is not None, reason=str(sitecheck.unavailable()))

DOT_PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5E"
                           "rkJggg==")   # a 1x1 PNG
CAPTION = '<figcaption><p><span class="caption-number">Fig. 1 </span>{}<a class="headerlink" href="#f">#</a></p>' \
          '</figcaption>'
PAGES = {   # name: body, as Sphinx and myst-nb write them
    "clean.html": '<section id="results"><h1>Results</h1>'
                  '<figure id="f"><img src="dot.png">' + CAPTION.format('<span class="caption-text">A dot.</span>')
                  + '</figure><div class="cell_output"><figure><img src="dot.png"><figcaption>Output.</figcaption>'
                  '</figure></div><div style="overflow-x: auto"><table><tr><td>fits</td></tr></table></div>'
                  '<img loading="lazy" src="dot.png" style="margin-top: 3000px"></section>',
    "wide.html": '<section id="settings"><table id="distillers" style="width: 3000px"><tr><th>Method</th>'
                 '<th>RDED</th></tr></table></section>',
    "scrolled.html": '<div style="overflow-x: auto"><table style="width: 3000px"><caption>Distiller settings'
                     '</caption><tr><td>a</td></tr></table></div>',
    "broken.html": '<img src="missing.png"><img loading="lazy" src="also-missing.png" style="margin-top: 3000px">',
    "uncaptioned.html": '<figure id="numbered"><img src="dot.png">' + CAPTION.format("") + '</figure>'
                        '<div class="cell_output"><img src="dot.png"></div>',
}


@pytest.fixture(scope="module")
def browser():
    with sitecheck.Browser() as b:
        yield b


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    (root / "dot.png").write_bytes(DOT_PNG)
    for name, body in PAGES.items():
        (root / name).write_text(f"<!DOCTYPE html><html><body>{body}</body></html>")
    (root / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=broken.html" />')   # a redirect
    (root / "_static").mkdir()
    (root / "_static" / "theme.html").write_text('<img src="absent.png">')   # the theme's, not a page
    return root


@pytest.fixture
def cli_in_browser(browser, monkeypatch):
    """The CLI's check in the module's browser instead of a fresh one (a start costs seconds)."""
    monkeypatch.setattr(sitecheck, "Browser", lambda: nullcontext(browser))


def _check(browser, site, name):
    return [(p.kind, p.detail) for p in browser.check(site / name)]


def test_a_clean_page_passes(browser, site):
    assert _check(browser, site, "clean.html") == []


def test_a_page_wider_than_the_window_names_the_widest_element(browser, site):
    [(kind, detail)] = _check(browser, site, "wide.html")
    assert kind == "overflow" and 'table#distillers "Method | RDED" in #settings, 3000 px' in detail


def test_a_table_wider_than_its_scrolling_box_is_cut_off(browser, site):
    [(kind, detail)] = _check(browser, site, "scrolled.html")
    assert kind == "cut-off" and detail.startswith('table "Distiller settings": 3000 px wide')


def test_images_that_fail_to_load_are_named(browser, site):
    assert _check(browser, site, "broken.html") == [("broken-image", "img missing.png did not load"),
                                                    ("broken-image", "img also-missing.png did not load")]


def test_figures_without_caption_text_fail(browser, site):
    assert _check(browser, site, "uncaptioned.html") == [
        ("uncaptioned-figure", "figure#numbered has no caption"),
        ("uncaptioned-figure", "notebook output img dot.png has no caption")]


def test_a_page_that_does_not_finish_loading_is_reported(browser, tmp_path):
    (tmp_path / "slow.html").write_text("<script>const start = Date.now(); while (Date.now() - start < 2000) {}"
                                        "</script>")
    browser.driver.set_page_load_timeout(0.5)
    try:
        assert _check(browser, tmp_path, "slow.html") == [("load", "did not finish loading in 0.5 s")]
    finally:
        browser.driver.set_page_load_timeout(sitecheck.LOAD_TIMEOUT_S)


def test_the_cli_prints_one_line_per_problem_and_exits_1(site, cli_in_browser, capsys):
    assert cli.main(["check-site", str(site)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and all(line.split(": ")[0] in PAGES for line in lines)
    assert not any(line.startswith(("clean.html", "index.html", "_static")) for line in lines)


def test_a_clean_site_exits_0(site, tmp_path, cli_in_browser, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "clean.html").write_text((site / "clean.html").read_text())
    (tmp_path / "sub" / "dot.png").write_bytes(DOT_PNG)
    assert cli.main(["check-site", str(tmp_path)]) == 0
    assert capsys.readouterr().err == "1 pages checked at 1280 px: no problems\n"


def test_no_site_is_a_one_line_error(tmp_path):
    with pytest.raises(DDLibError, match="no HTML pages"):
        sitecheck.pages(tmp_path)
    assert cli.main(["check-site", str(tmp_path / "absent")]) == 2


def test_a_browser_that_does_not_start_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(sitecheck, "CHROMIUM", sitecheck.Path("/bin/false"))
    with pytest.raises(DDLibError, match=r"^Chromium did not start \(/bin/false, .*\): [^\n]+$"):
        sitecheck.Browser()
