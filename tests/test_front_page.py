"""README is the front page and every table it and the guides show is generated (docs/generate.py --tables):
from the cards and the benchmarks' results files, never typed twice."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import generate  # noqa: E402  (docs/generate.py)


def test_every_table_readme_and_the_guides_show_is_what_its_generator_writes(tmp_path):
    """README's and the guides' generated tables equal what the cards and results files give now; each generator's
    table is shown somewhere; a changed row is caught (a probe) and --tables writes it back."""
    assert generate.stale_tables() == [], "run `python docs/generate.py --tables`"
    shown = "".join(path.read_text() for path in generate.table_files())
    for name in generate.TABLES:
        assert f"<!-- generated: {name} " in shown, name
    probe = tmp_path / "guide.md"
    table = generate.TABLES["weights"]()
    marker = "<!-- generated: weights (python docs/generate.py --tables) -->"
    probe.write_text(f"text\n{marker}\n{table.replace('0.9103', '0.9999')}\n<!-- end generated -->\nmore\n")
    assert generate.stale_tables(files=[probe]) == [f"{probe}: weights"]
    generate.stale_tables(write=True, files=[probe])
    assert generate.stale_tables(files=[probe]) == [] and "0.9103" in probe.read_text()


def test_readme_is_a_front_page_that_leads_into_the_guides():
    """README is short (about 200 lines at most), holds the two commands and the weights table, and links every
    guide, each of which exists."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200, len(readme.splitlines())
    assert "## Two commands" in readme and "<!-- generated: weights " in readme
    for slug in generate.GUIDES:
        assert f"](docs/guides/{slug}.md)" in readme, slug
        assert (ROOT / "docs" / "guides" / f"{slug}.md").is_file(), slug
