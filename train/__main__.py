"""``python -m tsmap_train``: the training commands (``prepare``, ``train``, ``eval``) without the ``tsmap`` group."""

from .cli import main

main()
