"""tsmap_train: cross-view contrastive training of the TimeSenCLIP satellite encoder.

Lives in the repository folder ``train/`` and installs as ``tsmap_train`` (the bare name
``train`` collides with other packages). It imports ``tsmap``; ``tsmap`` never imports it.
"""
