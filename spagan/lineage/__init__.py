"""Lineage: what a model was made from. The run stamp of a training stage, the published model's
lineage record, the dvc.lock chain raw source -> data -> model -> evaluation, and DVC's files.

Reads DVC's files as YAML (never imports dvc). May import spagan.models (to write the published
weights: torch is imported only to publish), spagan.config and spagan.core.
"""
