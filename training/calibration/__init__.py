"""Datasets that calibrate the evaluation gate (see datasets.py and bench/training_gate.py)."""
