"""Datasets (`datasets.py`: registry and loaders) and membership splits (`splits.py`)."""
