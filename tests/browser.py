"""Open a written report page in a real headless browser (Debian's Chromium, driven by Playwright; `make install`
installs it) and read back what a person would see: console errors, network requests attempted, the charts
Bokeh rendered (their canvases, drawn), the text of the page, and a screenshot."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# as the machine's own probe starts it: no background traffic to hosts this network cannot reach
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def available() -> str | None:
    """Why no browser test can run here (None: they can)."""
    import importlib.util

    if importlib.util.find_spec("playwright") is None:
        return "needs playwright (pip install 'modelport[dev]')"
    if not Path(CHROMIUM).exists():
        return "needs Debian's chromium (apt-get install chromium; `make install` does it)"
    return None


needs_browser = pytest.mark.skipif(available() is not None, reason=available() or "")


@dataclass
class Seen:
    """What the browser saw of one page."""

    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL requested other than the page itself
    charts: dict[str, dict] = field(default_factory=dict)  # data-chart key -> canvas count, width, height, colours
    text: dict[str, str] = field(default_factory=dict)  # selector -> inner text, for the selectors asked
    attributes: list[dict] = field(default_factory=list)  # the output rows' data-* attributes, in page order
    screenshot_colors: int = 0  # distinct colours in a full-page screenshot (a blank page has 1)
    rendered_roots: int = 0  # Bokeh's own count of the plots it drew


@pytest.fixture(scope="session")
def browser():
    reason = available()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def _colors(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.thumbnail((400, 400))
    return len(set(image.getdata()))


def look(browser, page_path: Path, selectors: tuple[str, ...] = (), screenshot: Path | None = None) -> Seen:
    """Open `page_path` (file://), wait for Bokeh to draw, and read what is on it."""
    seen = Seen()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    url = Path(page_path).absolute().as_uri()
    page.on("console", lambda m: seen.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(f"page error: {e}"))
    page.on("request", lambda r: seen.requests.append(r.url) if r.url != url else None)
    try:
        page.goto(url, wait_until="load", timeout=60_000)
        expected = page.locator("[data-chart]").count()
        page.wait_for_function(
            "n => n === 0 || (window.Bokeh && Object.keys(Bokeh.index).length >= n)", arg=expected, timeout=60_000)
        page.wait_for_timeout(300)  # the canvases' first paint
        seen.rendered_roots = page.evaluate("() => window.Bokeh ? Object.keys(Bokeh.index).length : 0")
        for element in page.locator("[data-chart]").all():
            key = element.get_attribute("data-chart")
            element.scroll_into_view_if_needed()
            box = element.bounding_box() or {"width": 0, "height": 0}
            canvases = element.evaluate(
                """el => { const all = [];
                           const walk = n => { if (!n) return; if (n.tagName === 'CANVAS') all.push(n);
                             (n.shadowRoot ? [...n.shadowRoot.children] : []).forEach(walk);
                             [...n.children].forEach(walk); };
                           walk(el); return all.filter(c => c.width > 0 && c.height > 0).length; }""")
            seen.charts[key] = {"canvas": canvases, "width": box["width"], "height": box["height"],
                                "colors": _colors(element.screenshot())}
        for selector in selectors:
            found = page.locator(selector)
            seen.text[selector] = found.first.inner_text() if found.count() else ""
        seen.attributes = page.eval_on_selector_all(
            "tr.output-row", "rows => rows.map(r => ({...r.dataset, cells: [...r.cells].map(c => c.innerText)}))")
        png = page.screenshot(full_page=True, path=str(screenshot) if screenshot else None)
        seen.screenshot_colors = _colors(png)
    finally:
        page.close()
    return seen
