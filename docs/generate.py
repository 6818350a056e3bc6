"""Write the documentation site's Markdown from what the project measures and registers, never typed twice:
the catalogue (the model registry and the weights cards), one page per model and per weights, the int8 and
GPU tables from the cards, README's sections as the guides, the CLI reference from the click commands and the
Python API from the docstrings. ``make docs`` then builds it with MkDocs (strict: a warning fails the build).

    python docs/generate.py [--out docs/build/src]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "build" / "src"
#: README's sections that become guide pages (the rest is the front page's, or the catalogue's).
GUIDES = {
    "Two commands": "start",
    "Tour": "tour",
    "Your own photos": "photos",
    "Training": "training",
    "Export": "export",
    "Serving": "serving",
    "Benchmarks": "benchmarks",
    "Layout and development": "development",
}
#: The click commands of the CLI reference: (page title, module, attribute, program name).
COMMANDS = [
    ("zoo", "zoo.cli", "main", "zoo"),
    ("zoo-train", "training.cli.train", "train_main", "zoo-train"),
    ("zoo-eval", "training.cli.tools", "eval_main", "zoo-eval"),
    ("zoo-predict", "training.cli.tools", "predict_main", "zoo-predict"),
    ("zoo-export", "export.cli", "main", "zoo-export"),
    ("zoo-serve", "serving.cli", "main", "zoo-serve"),
]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")


def _sections(readme: str) -> dict[str, str]:
    """README's level-2 sections by title (the text under each heading, its own heading left out)."""
    parts = re.split(r"^## (.+)$", readme, flags=re.M)
    return {parts[i].strip(): parts[i + 1].strip() for i in range(1, len(parts), 2)}


def _fix_links(text: str) -> str:
    """README's links to files of the repository, made to work from the site: pictures are copied beside."""
    return re.sub(r"\]\(docs/([^)]+\.png)\)", r"](images/\1)", text)


def catalogue() -> str:
    import zoo
    from zoo.cli import _row
    from zoo.weights import get_weights, list_weights

    lines = [
        "# Catalogue",
        "",
        "Every model of the zoo and every weights entry, generated from the registry and the cards.",
        "",
        "## Models",
        "",
        "| model | task | parameters | input (per sample) | weights |",
        "|---|---|---:|---|---|",
    ]
    for name in zoo.list_models():
        row = _row(name)
        shape = ", ".join(f"{k} {tuple(v)}" for k, v in row["input"].items())
        weights = ", ".join(f"[{w}](weights/{_slug(w)}.md)" for w in list_weights(name)) or "-"
        lines.append(f"| [{name}](models/{_slug(name)}.md) | {row['task']} | {row['params']:,} | {shape} | {weights} |")
    lines += [
        "",
        "## Weights",
        "",
        "| weights | metric | value | file | int8 (accuracy, batch-64 speed-up) |",
        "|---|---|---:|---|---|",
    ]
    for name in list_weights():
        w = get_weights(name)
        metric, _ = w.headline
        value = w.metrics.get(metric)
        shown = f"{value:.4f}" if isinstance(value, (int, float)) else "not built here"
        size = (w.card.get("file") or {}).get("size")
        int8 = ((w.card.get("int8") or {}).get("parts") or {}).get("model") or {}
        quant = (
            f"{int8['int8_accuracy']:.4f}, {int8['speedup']['batch64']:.2f}x"
            if "int8_accuracy" in int8 and "batch64" in (int8.get("speedup") or {})
            else "-"
        )
        lines.append(
            f"| [{name}](weights/{_slug(name)}.md) | {metric} | {shown} | "
            f"{f'{size / 1e6:.2f} MB' if size else '-'} | {quant} |"
        )
    return "\n".join(lines) + "\n"


def model_page(name: str) -> str:
    import zoo
    from zoo.cli import _row
    from zoo.weights import list_weights

    spec = zoo.get_spec(name)
    row = _row(name)
    doc = (spec.builder.__doc__ or "").strip()
    lines = [
        f"# {name}",
        "",
        f"**Task**: {row['task']} · **parameters**: {row['params']:,} · **source**: {row['source']}",
    ]
    lines += ["", doc, "", "## Parts", ""]
    lines += [f"- `{p}`" for p in row["parts"]]
    lines += ["", "## Recipes", ""] + [f"- `zoo-train {r}`" for r in row["recipes"]]
    lines += ["", "## Weights", ""] + ([f"- [{w}](../weights/{_slug(w)}.md)" for w in list_weights(name)] or ["-"])
    lines += ["", "## Use", "", "```python", "import zoo", "", f'model = zoo.get_model("{name}")', "```", ""]
    return "\n".join(lines)


def weights_page(name: str) -> str:
    from zoo.cli import _card_text, int8_lines
    from zoo.weights import get_weights

    w = get_weights(name)
    t = w.card.get("training") or {}
    metric, _ = w.headline
    lines = [f"# {name}", "", f"Weights of [{w.model}](../models/{_slug(w.model)}.md).", ""]
    if w.metrics:
        lines += ["## Metrics", "", "| metric | value |", "|---|---:|"]
        lines += [f"| {k}{' (headline)' if k == metric else ''} | {v:.6g} |" for k, v in w.metrics.items()]
    else:
        lines += ["## Metrics", "", f"Not built here: {w.how_to_build()}."]
    if w.card.get("int8"):
        lines += ["", "## int8", "", "```text", *int8_lines(w.card["int8"]), "```"]
    lines += ["", "## Card", "", "```text", _card_text(w), "```"]
    lines += [
        "",
        "## Commands",
        "",
        "```bash",
        f'python -c \'import zoo; zoo.get_model("{w.model}", weights="{name}")\'   # load',
        f"zoo weights build {name}                 # rebuild: {t.get('command', '')}",
        f"zoo-export {name} --quantize int8        # export (TorchScript, ONNX, torch.export; int8)",
        f"zoo-serve start {name}                   # serve",
        f"zoo weights save-pretrained {name} DIR   # the Hub's layout",
        "```",
        "",
    ]
    return "\n".join(lines)


def generate(out: Path = OUT) -> list[Path]:
    """Write every page under ``out`` (emptied first); return the pages written."""
    import zoo
    from zoo.weights import gpu_table, int8_table, list_weights

    if out.exists():
        shutil.rmtree(out)
    (out / "models").mkdir(parents=True)
    (out / "weights").mkdir()
    (out / "images").mkdir()
    for picture in (ROOT / "docs").glob("*.png"):
        shutil.copyfile(picture, out / "images" / picture.name)
    readme = (ROOT / "README.md").read_text()
    sections = _sections(readme)
    intro = readme.split("\n## ", 1)[0].split("\n", 1)[1].strip()
    pages: dict[str, str] = {
        "index.md": "# torch-model-zoo\n\n"
        + _fix_links(intro)
        + "\n\n- [Catalogue](catalogue.md): every model and every weights entry\n"
        + "".join(f"- [{title}]({slug}.md)\n" for title, slug in GUIDES.items())
        + "- [int8 and GPU figures](figures.md)\n- [CLI reference](cli.md)\n- [Python API](api.md)\n",
        "catalogue.md": catalogue(),
        "figures.md": "# int8 and GPU figures\n\nGenerated from the cards.\n\n## int8 (ONNX Runtime, CPU)\n\n"
        + int8_table()
        + "\n\n## Trained on a GPU\n\n"
        + gpu_table()
        + "\n",
        "cli.md": "# CLI reference\n\nGenerated from the click commands.\n\n"
        + "".join(
            f"## {title}\n\n::: mkdocs-click\n    :module: {module}\n    :command: {attr}\n    :prog_name: {prog}\n"
            "    :depth: 2\n    :style: table\n\n"
            for title, module, attr, prog in COMMANDS
        ),
        "api.md": "# Python API\n\nGenerated from the docstrings.\n\n::: zoo\n    options:\n      show_submodules: false\n",
    }
    for title, slug in GUIDES.items():
        found = next((body for heading, body in sections.items() if heading.startswith(title)), None)
        if found is None:
            raise SystemExit(f"README has no section '## {title}'")
        pages[f"{slug}.md"] = f"# {title}\n\n" + _fix_links(found) + "\n"
    for name in zoo.list_models():
        pages[f"models/{_slug(name)}.md"] = model_page(name)
    for name in list_weights():
        pages[f"weights/{_slug(name)}.md"] = weights_page(name)
    written = []
    for rel, text in pages.items():
        path = out / rel
        path.write_text(text)
        written.append(path)
    (out / "pages.json").write_text(json.dumps(sorted(pages), indent=1))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    pages = generate(args.out)
    print(f"wrote {len(pages)} pages under {args.out}")


if __name__ == "__main__":
    main()
