"""``python -m zoo``: the ``zoo`` command (browse the catalogue and the trained weights; ``zoo weights build``,
``verify`` and ``int8`` come from the training and export packages where they are installed beside it)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    main()
