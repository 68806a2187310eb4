"""Training: the loop, one SPA-GAN step, the resumable run state, the pre-flight plan, the unpaired
dataset, the image pool, the losses and multi-process averaging.

May import spagan.models, spagan.data, spagan.config and spagan.core; never evaluation or the CLI.
"""
