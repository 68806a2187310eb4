"""Inference: the translator a checkpoint becomes, folder translation at native size, ONNX export,
and the padding and memory sizing they share.

May import spagan.models, spagan.config and spagan.core; never training or evaluation.
"""
