"""Evaluation: the scores of a trained model (KID, mask-based measures, domain score), its
pre-flight plan, the attention gallery, the report's names and rows, and the ablation study.

May import inference, training (the ablation trains), models, data, config and core.
"""
