"""Evaluation of trained encoders on downstream labels: linear probe and kNN monitor (Table 6, right half)."""

from sslmem.evaluation.probe import extract_features, knn_classify, linear_probe, standardize

__all__ = ["extract_features", "knn_classify", "linear_probe", "standardize"]
