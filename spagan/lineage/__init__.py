"""Lineage: what a model was made from. The run stamp of a training stage, the published model's
lineage record, the dvc.lock chain raw source -> data -> model -> evaluation, and DVC's files.

Reads DVC's files as YAML (never imports dvc). May import spagan.config and spagan.core.
"""
