"""Data preparation: ingest a CycleGAN-layout source, deduplicate, validate, and the demo domains.

May import spagan.config and spagan.core only (the `prepare` stage runs it alone).

Modules: ``sources`` (list a folder or zip safely), ``ingest`` (decode, normalise, hash),
``dedupe`` (exact and near duplicates, train/test leakage), ``schema`` (pandera manifest),
``demo`` (the seeded two-domain generator), ``prepare`` (the whole chain and its reports),
``splits`` (the source's counts per split next to the kept ones, the test-split warning),
``masked_source`` (a benchmark's training split beside a masked evaluation set, as one source).
"""
