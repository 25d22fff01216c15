"""Custom TFX components of the genre-classification pipeline, one folder each."""
