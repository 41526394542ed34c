"""``python -m tsmap_train`` (or ``python -m train`` from the repository root)."""

from .cli import main

main()
