"""``python -m zoo``: the ``zoo`` command (browse the catalogue and the trained weights; build and verify them
where the training package is installed beside it, as it is by this project's setup)."""

from __future__ import annotations


def main() -> None:
    try:
        from export.cli import zoo_main  # the full command: build/verify train through the engine, int8 exports
    except ImportError:  # zoo alone: browsing only
        from .cli import main as zoo_main
    zoo_main()


if __name__ == "__main__":
    main()
