"""Datasets the pipeline reads: the synthetic demo dataset in FMA's layout (demo) and the FMA download (fma)."""
