"""The documentation site, built as `make docs` builds it (offline, strict: a warning fails the build), then read
back: every page links only to pages and pictures that exist, the catalogue lists every weights entry with a page
of its own, and the search index knows the models by name."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("mkdocs", reason="the documentation site is the docs extra: pip install '.[docs]'")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if value and ((tag == "a" and key == "href") or (tag in ("img", "script") and key == "src")):
                self.targets.append(value)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    generated = subprocess.run([sys.executable, "docs/generate.py"], cwd=ROOT, capture_output=True, text=True)
    assert generated.returncode == 0, generated.stderr[-2000:]
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "docs/mkdocs.yml", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return out


def test_weights_pages_show_the_pictures_their_cards_hold(site):
    """Curves where the card kept its run's history, the confusion matrix where it kept its evaluation, samples of
    every image generator; and the benchmark plots page draws each results file it knows."""
    from zoo.weights import get_weights, list_weights

    for name in list_weights():
        card = get_weights(name).card
        slug = name.replace(".", "-")
        page = (site / "weights" / f"{slug}.html").read_text()
        expected = []
        if (card.get("training") or {}).get("history"):
            expected.append("curves.png")
        if (card.get("evaluation") or {}).get("confusion_matrix"):
            expected.append("confusion.png")
        if card.get("task") in ("gan", "vae") and (card.get("preprocessing") or {}).get("kind") == "image":
            expected.append("samples.png")
        for picture in expected:
            assert f"images/weights/{slug}/{picture}" in page, (name, picture)
            assert (site / "images" / "weights" / slug / picture).stat().st_size > 2000, (name, picture)
    assert "curves.png" in (site / "weights" / "transfer-resnet18-cats-dogs.html").read_text()
    plots = (site / "benchmark-plots.html").read_text()
    for picture in ("serving.png", "int8.png", "precision.png", "inference.png"):
        assert f"images/benchmarks/{picture}" in plots, picture


def test_every_internal_link_and_picture_of_the_site_exists(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 60, len(pages)
    broken = []
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text())
        for target in parser.targets:
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or target.startswith(("#", "mailto:")) or not parts.path:
                continue
            base = site if parts.path.startswith("/") else page.parent  # the 404 page links from the site's root
            if not (base / parts.path.lstrip("/")).resolve().exists():
                broken.append(f"{page.relative_to(site)} -> {target}")
    assert not broken, "\n".join(broken[:20])


def test_the_catalogue_lists_every_weights_entry_and_each_has_its_page(site):
    from zoo.weights import list_weights

    catalogue = (site / "catalogue.html").read_text()
    for name in list_weights():
        slug = name.replace(".", "-")
        assert f"weights/{slug}.html" in catalogue, name
        text = re.sub(r"<[^>]+>", "", (site / "weights" / f"{slug}.html").read_text())  # highlighting splits words
        assert name in text and f"zoo-serve start {name}" in text, name


def test_the_search_index_finds_a_model_by_name(site):
    index = json.loads((site / "search" / "search_index.json").read_text())
    titles = {doc["location"]: doc["title"] for doc in index["docs"]}
    assert any(loc.startswith("models/resnet18.html") for loc in titles), sorted(titles)[:10]
    assert any("resnet18.cifar10" in doc["text"] or doc["title"] == "resnet18.cifar10" for doc in index["docs"])


@pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
def test_in_a_real_browser_every_page_loads_and_search_finds_a_model(site, tmp_path):
    """Headless Chromium over HTTP (as a reader's browser gets it): every page loads with its title and header,
    and the search box, typed into, lists the model's page."""
    import functools
    import http.server
    import threading

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if p.name != "404.html")
        for page in pages:
            browser.get(f"{base}/{page}")
            assert browser.title.endswith("torch-model-zoo"), (page, browser.title)
            assert browser.find_elements(By.CSS_SELECTOR, "article h1"), page
        browser.get(f"{base}/index.html")
        browser.execute_script("document.querySelector('#__search').checked = true")
        box = WebDriverWait(browser, 30).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "input.md-search__input")))
        box.send_keys("resnet18")
        found = "return [...document.querySelectorAll('.md-search-result__item a')].map(a => a.href)"
        WebDriverWait(browser, 30).until(lambda b: any("models/resnet18.html" in h for h in b.execute_script(found)))
        # the catalogue sorts by a column when its header is clicked (parameters: smallest first, then largest)
        browser.get(f"{base}/catalogue.html")
        column = (
            "return [...document.querySelectorAll('article table')[0].tBodies[0].rows].map(r => r.cells[2].textContent)"
        )
        header = browser.find_elements(By.CSS_SELECTOR, "article table thead th")[2]
        header.click()
        ascending = [int(v.replace(",", "")) for v in browser.execute_script(column)]
        assert ascending == sorted(ascending), ascending
        header.click()
        descending = [int(v.replace(",", "")) for v in browser.execute_script(column)]
        assert descending == sorted(ascending, reverse=True), descending
    finally:
        browser.quit()
        server.shutdown()
        server.server_close()
