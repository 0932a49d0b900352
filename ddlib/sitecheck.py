"""The real-browser check of a built site [issue 36]: every HTML page opened in headless Chromium at a 1280 px
window, as a reader sees it, and checked for

- ``overflow``: the page is wider than the window (the document's scrollWidth exceeds the viewport's width); the
  element reaching furthest right, outside any scrolling box, is named (e.g. a table);
- ``cut-off``: a table or image wider than the scrolling or clipping box that holds it (the theme wraps tables in
  such boxes, so a too-wide table hides columns behind a scrollbar instead of widening the page);
- ``broken-image``: an ``<img>`` that failed to load (``complete`` with ``naturalWidth`` 0, and it fails to decode);
- ``uncaptioned-figure``: a ``<figure>`` (or docutils' older ``div.figure``) whose caption has no text besides its
  number and link, and a plot a notebook cell drew (an ``img`` in myst-nb's ``.cell_output``) outside a figure: the
  book's figures are numbered and captioned (``../shared/design/book.md``), which a cell's ``mystnb: figure``
  metadata does by wrapping its output in a ``<figure>``.

Pages are measured as they open: folded content (``<details>``, toggles) stays folded and is not measured; code
blocks that scroll sideways are not counted. Chromium and chromedriver are Debian's (``scripts/setup.sh``);
selenium drives them.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import DDLibError

WIDTH = 1280                      # [issue 36] the window a reader's laptop gives the page
HEIGHT = 900                      # any height: only widths are checked
CHROMIUM = Path("/usr/bin/chromium")          # Debian's chromium and chromium-driver packages
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Without these a machine with no internet hangs on network look-ups (updates, sync, QUIC); --no-sandbox lets it
# run as root; each browser gets a fresh profile folder (added in Browser).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--window-size={WIDTH},{HEIGHT}")
LOAD_TIMEOUT_S = 30               # a page that takes longer is reported, not waited for
SETTLE_TIMEOUT_MS = 5000          # images, fonts and MathJax finishing after the load event
SKIPPED = ("_static",)            # the theme's own files, not pages of the book
REDIRECT = re.compile(r"<meta[^>]+http-equiv=[\"']?refresh", re.IGNORECASE)

# Runs in the page: waits for images (lazy ones made eager), fonts and MathJax, then measures. Returns the raw
# findings; the Python side words them.
PROBE = """
const done = arguments[arguments.length - 1];
const root = document.documentElement;
const imgs = [...document.images];
imgs.forEach(i => { if (i.loading === 'lazy') i.loading = 'eager'; });
const waits = imgs.filter(i => !i.complete).map(i => new Promise(r => {
  i.addEventListener('load', r, {once: true}); i.addEventListener('error', r, {once: true}); }));
if (window.MathJax && MathJax.startup && MathJax.startup.promise) waits.push(MathJax.startup.promise);
waits.push(document.fonts.ready);
const settled = Promise.race([Promise.allSettled(waits), new Promise(r => setTimeout(r, %(settle)d))]);

const boxes = new Map();
function box(el) {   // the nearest ancestor below <body> that scrolls or clips sideways, else null
  const p = el.parentElement;
  if (!p || p === document.body || p === root) return null;
  if (!boxes.has(p)) boxes.set(p, getComputedStyle(p).overflowX !== 'visible' ? p : box(p));
  return boxes.get(p);
}
function name(el) {   // tag#id.classes, an image's src, a table's caption or first row, its section
  let s = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '');
  s += [...el.classList].slice(0, 2).map(c => '.' + c).join('');
  if (el.tagName === 'IMG') s += ' ' + el.getAttribute('src');
  if (el.tagName === 'TABLE') {
    const cap = el.querySelector('caption'), row = el.rows[0];
    const head = cap ? text(cap, '.headerlink') : row ? [...row.cells].map(c => text(c, 'script')).join(' | ') : '';
    if (head) s += ' "' + (head.length > 60 ? head.slice(0, 57) + '...' : head) + '"';
  }
  const section = el.closest('section[id]');
  return section ? s + ' in #' + section.id : s;
}
function text(node, leaveOut) {   // its text without the parts leaveOut selects, spaces collapsed
  const c = node.cloneNode(true);
  c.querySelectorAll(leaveOut).forEach(e => e.remove());
  return c.textContent.trim().replace(/\\s+/g, ' ');
}
function captionText(fig) {   // a figure's caption without its number and link
  const cap = fig.querySelector(':scope > figcaption, :scope > .caption');
  return cap ? text(cap, '.caption-number, .headerlink') : '';
}
settled.then(async () => {
  const view = root.clientWidth, out = {width: root.scrollWidth, view: view, widest: null, cut: [], broken: [],
                                        uncaptioned: []};
  if (root.scrollWidth > view) {
    let right = view + 0.5;
    for (const el of document.body.querySelectorAll('*')) {
      if (box(el)) continue;
      const r = el.getBoundingClientRect();
      if (r.right + scrollX > right) { right = r.right + scrollX; out.widest = [name(el), Math.round(r.width)]; }
    }
  }
  for (const el of document.querySelectorAll('table, img')) {
    const b = box(el), w = el.getBoundingClientRect().width;
    if (b && w > b.clientWidth + 1) out.cut.push([name(el), Math.round(w), b.clientWidth]);
  }
  const failed = imgs.filter(i => i.getAttribute('src') && i.complete && i.naturalWidth === 0);
  const undecodable = await Promise.all(failed.map(i => i.decode().then(() => false, () => true)));
  out.broken = failed.filter((i, k) => undecodable[k]).map(name);
  for (const f of document.querySelectorAll('figure, div.figure'))
    if (!captionText(f)) out.uncaptioned.push(name(f));
  for (const i of document.querySelectorAll('.cell_output img'))
    if (!i.closest('figure, div.figure')) out.uncaptioned.push('notebook output ' + name(i));
  done(out);
});
""" % {"settle": SETTLE_TIMEOUT_MS}


@dataclass(frozen=True)
class Problem:
    """One thing a reader would see wrong on one page (``page`` relative to the site folder)."""
    page: str
    kind: str          # overflow, cut-off, broken-image, uncaptioned-figure or load
    detail: str

    def __str__(self):
        return f"{self.page}: {self.kind}: {self.detail}"


def unavailable() -> str | None:
    """Why the check cannot run here (Chromium, chromedriver or selenium missing), else None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is absent: install Debian's {package} (scripts/setup.sh does, as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    return None


def pages(site: Path) -> list[Path]:
    """Every HTML page of a built site, in name order, leaving out the theme's own files and redirects (Jupyter
    Book's index.html sends the reader to the root page, which is checked itself)."""
    site = Path(site)
    if not site.is_dir():
        raise DDLibError(f"{site}: no such folder; build the site first (make book)")
    found = sorted(p for p in site.rglob("*.html") if not set(p.relative_to(site).parts[:-1]) & set(SKIPPED)
                   and not REDIRECT.search(p.read_text(errors="replace")))
    if not found:
        raise DDLibError(f"{site}: no HTML pages in it; build the site first (make book)")
    return found


class Browser:
    """One headless Chromium at a WIDTH px window, driven by chromedriver and reused across pages; ``close`` (or
    leaving its ``with`` block) quits it and removes its fresh profile folder."""

    def __init__(self):
        reason = unavailable()
        if reason:
            raise DDLibError(f"the site check needs Chromium: {reason}")
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        self.profile = tempfile.mkdtemp(prefix="ddlib-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in FLAGS + (f"--user-data-dir={self.profile}",):
            options.add_argument(flag)
        try:
            self.driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        except Exception as e:   # selenium's message runs to many lines; its first says why
            shutil.rmtree(self.profile, ignore_errors=True)
            why = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise DDLibError(f"Chromium did not start ({CHROMIUM}, {CHROMEDRIVER}): {why}") from None
        self.driver.set_page_load_timeout(LOAD_TIMEOUT_S)
        self.driver.set_script_timeout(SETTLE_TIMEOUT_MS / 1000 + LOAD_TIMEOUT_S)

    def check(self, page: Path, name: str | None = None) -> list[Problem]:
        """The problems of one page (an HTML file), reported under ``name`` (default: its file name)."""
        from selenium.common.exceptions import TimeoutException
        name = name or Path(page).name
        try:
            self.driver.get(Path(page).resolve().as_uri())
            found = self.driver.execute_async_script(PROBE)
        except TimeoutException:
            return [Problem(name, "load", f"did not finish loading in {self.driver.timeouts.page_load:g} s")]
        out = []
        if found["width"] > found["view"]:
            widest = "" if not found["widest"] else f" (widest: {found['widest'][0]}, {found['widest'][1]} px)"
            out.append(Problem(name, "overflow", f"page {found['width']} px wide in a {found['view']} px viewport "
                                                 f"(window {WIDTH} px){widest}"))
        out += [Problem(name, "cut-off", f"{el}: {w} px wide in a {box} px box, {w - box} px out of view")
                for el, w, box in found["cut"]]
        out += [Problem(name, "broken-image", f"{el} did not load") for el in found["broken"]]
        out += [Problem(name, "uncaptioned-figure", f"{el} has no caption") for el in found["uncaptioned"]]
        return out

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_site(site: Path, browser: Browser | None = None) -> tuple[int, list[Problem]]:
    """(pages checked, their problems) for every page of ``site``, in ``browser`` or a fresh one."""
    site = Path(site)
    found = pages(site)
    if browser is None:
        with Browser() as own:
            return check_site(site, own)
    return len(found), [p for page in found for p in browser.check(page, page.relative_to(site).as_posix())]
