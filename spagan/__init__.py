"""SPA-GAN: spatial attention GAN for unpaired image-to-image translation, as a plain PyTorch library.

Packages by role, each layer importing only those below it (contracts in pyproject.toml):
``cli`` (the `spagan` command); ``evaluation`` (scores, gallery, report, ablation); ``training``,
``inference`` and ``lineage`` (apart from each other); ``models`` and ``data``; ``config``; ``core``.
"""
