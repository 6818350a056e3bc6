"""Write the documentation site's Markdown from what the project measures and registers, never typed twice:
the catalogue (the model registry and the weights cards), one page per model and per weights with its pictures,
the benchmark plots, the guides (``docs/guides/``), the CLI reference from the click commands and the Python API
from the docstrings. ``make docs`` then builds it with MkDocs (strict: a warning fails the build).

The tables that README and the guides show between ``<!-- generated: NAME ... -->`` and ``<!-- end generated -->``
are written by :data:`TABLES` (``--tables`` rewrites them; a test fails when one differs).

    python docs/generate.py [--out docs/build/src]
    python docs/generate.py --tables
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))  # docs/pictures.py
OUT = ROOT / "docs" / "build" / "src"
GUIDES_DIR = ROOT / "docs" / "guides"
#: The guides (``docs/guides/SLUG.md``), in the site's order.
GUIDES = {
    "weights": "Trained weights",
    "photos": "Your own photos",
    "zoo": "The zoo",
    "training": "Training",
    "export": "Export",
    "serving": "Serving",
    "benchmarks": "Benchmarks",
    "development": "Layout and development",
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


def _fix_links(text: str) -> str:
    """README's links, made to work from the site's front page: the guides and pictures sit beside it."""
    text = re.sub(r"\]\(docs/guides/([^)#]+\.md)(#[^)]*)?\)", r"](guides/\1\2)", text)
    return re.sub(r"\]\(docs/images/([^)]+\.png)\)", r"](images/\1)", text)


# --------------------------------------------------------------------------- generated tables


def _benchmark(name: str) -> ModuleType:
    """A benchmark script as a module (its table renderer), without running it."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _results(name: str) -> dict:
    return json.loads((ROOT / "benchmarks" / "results" / name).read_text())


def _weights_table(kind: str = "") -> str:
    from zoo.weights import gpu_table, int8_table, markdown_table

    return {"": markdown_table, "int8": int8_table, "gpu": gpu_table}[kind]()


#: Every generated table: its name in the markers, and what writes it (the cards, or a benchmark's results file).
TABLES: dict[str, Callable[[], str]] = {
    "weights": lambda: _weights_table(),
    "int8": lambda: _weights_table("int8"),
    "gpu": lambda: _weights_table("gpu"),
    "recipes": lambda: _benchmark("recipes").markdown_table(_results("recipes-cpu.json")["rows"]),
    "finetune": lambda: _benchmark("finetune").markdown_table(_results("finetune-cpu.json")),
    "speednet": lambda: _benchmark("speednet").markdown_table(_results("speednet-cpu.json")),
    "speed-carried": lambda: _benchmark("speednet").carried_table(_results("speednet-cpu.json")),
    "views": lambda: _benchmark("speednet").views_table(_results("speednet-cpu.json")),
}
BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[\w-]+) \(python docs/generate.py --tables\) -->\n)(?P<body>.*?)(<!-- end generated -->)",
    re.S,
)


def table_files() -> list[Path]:
    """The files whose generated tables are kept: README and the guides."""
    return [ROOT / "README.md", *sorted(GUIDES_DIR.glob("*.md"))]


def stale_tables(write: bool = False, files: list[Path] | None = None) -> list[str]:
    """``FILE: NAME`` of every generated table (in ``files``, default :func:`table_files`) that differs from what
    its generator writes now (rewritten when ``write``); an unknown table name is an error."""
    stale = []
    for path in files if files is not None else table_files():
        text = path.read_text()

        def fill(match: re.Match[str], path: Path = path) -> str:
            name = match["name"]
            if name not in TABLES:
                raise SystemExit(f"{path.name}: no generator for the table {name!r}; known: {', '.join(TABLES)}")
            body = TABLES[name]().strip() + "\n"
            if match["body"] != body:
                stale.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {name}")
            return match.group(1) + body + match.group(4)

        new = BLOCK.sub(fill, text)
        if write and new != text:
            path.write_text(new)
    return stale


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


def weights_page(name: str, pictures: list[tuple[str, str]]) -> str:
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
    lines += ["", "## Pictures", ""]
    for file, caption in pictures:
        lines += [f"![{caption}](../images/weights/{_slug(name)}/{file})", "", caption, ""]
    missing = []
    if w.built and not t.get("history"):
        missing.append("training curves (its card was built before cards kept the run's history)")
    if not pictures and not missing:
        missing.append("pictures (nothing measured to draw)")
    if missing:
        lines += [f"Not shown: {'; '.join(missing)}. `zoo weights build {name}` records them.", ""]
    if w.card.get("int8"):
        lines += ["## int8", "", "```text", *int8_lines(w.card["int8"]), "```", ""]
    lines += ["## Card", "", "```text", _card_text(w), "```"]
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


def benchmarks_page(images: Path) -> str:
    """The benchmark plots, each from its results file and naming its machine."""
    from pictures import BENCHMARK_PLOTS

    lines = [
        "# Benchmark plots",
        "",
        "Drawn from `benchmarks/results/*.json` by `make docs`; the numbers and how they were measured are in the "
        "[Benchmarks](guides/benchmarks.md) guide.",
        "",
    ]
    for plot in BENCHMARK_PLOTS:
        drawn = plot(images)
        if drawn is not None:
            file, caption = drawn
            lines += [f"![{caption}](images/benchmarks/{file})", "", caption, ""]
    return "\n".join(lines)


def generate(out: Path = OUT) -> list[Path]:
    """Write every page under ``out`` (emptied first); return the pages written."""
    import zoo
    from pictures import weights_pictures
    from zoo.weights import list_weights

    if out.exists():
        shutil.rmtree(out)
    for folder in ("models", "weights", "guides", "images/weights", "images/benchmarks"):
        (out / folder).mkdir(parents=True)
    for picture in (ROOT / "docs" / "images").glob("*.png"):
        shutil.copyfile(picture, out / "images" / picture.name)
    shutil.copyfile(ROOT / "docs" / "sortable.js", out / "sortable.js")
    readme = (ROOT / "README.md").read_text()
    front = readme.split("\n", 1)[1].strip()
    pages: dict[str, str] = {
        "index.md": "# torch-model-zoo\n\n"
        + _fix_links(front)
        + "\n\n## The site\n\n- [Catalogue](catalogue.md): every model and every weights entry\n"
        + "- [Benchmark plots](benchmark-plots.md)\n- [int8 and GPU figures](figures.md)\n"
        + "- [CLI reference](cli.md)\n- [Python API](api.md)\n",
        "catalogue.md": catalogue(),
        "figures.md": "# int8 and GPU figures\n\nGenerated from the cards.\n\n## int8 (ONNX Runtime, CPU)\n\n"
        + _weights_table("int8")
        + "\n\n## Trained on a GPU\n\n"
        + _weights_table("gpu")
        + "\n",
        "benchmark-plots.md": benchmarks_page(out / "images" / "benchmarks"),
        "cli.md": "# CLI reference\n\nGenerated from the click commands.\n\n"
        + "".join(
            f"## {title}\n\n::: mkdocs-click\n    :module: {module}\n    :command: {attr}\n    :prog_name: {prog}\n"
            "    :depth: 2\n    :style: table\n\n"
            for title, module, attr, prog in COMMANDS
        ),
        "api.md": "# Python API\n\nGenerated from the docstrings.\n\n::: zoo\n    options:\n      show_submodules: false\n",
    }
    for slug in GUIDES:
        pages[f"guides/{slug}.md"] = (GUIDES_DIR / f"{slug}.md").read_text()
    for name in zoo.list_models():
        pages[f"models/{_slug(name)}.md"] = model_page(name)
    for name in list_weights():
        pictures = weights_pictures(name, out / "images" / "weights" / _slug(name))
        pages[f"weights/{_slug(name)}.md"] = weights_page(name, pictures)
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
    parser.add_argument("--tables", action="store_true", help="rewrite README's and the guides' generated tables")
    args = parser.parse_args()
    if args.tables:
        stale = stale_tables(write=True)
        print("rewrote: " + ", ".join(stale) if stale else "every generated table is current")
        return
    stale = stale_tables()
    if stale:
        raise SystemExit(f"generated tables differ from their sources: {', '.join(stale)}; run with --tables")
    pages = generate(args.out)
    print(f"wrote {len(pages)} pages under {args.out}")


if __name__ == "__main__":
    main()
