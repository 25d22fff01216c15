"""Pipeline definition, configuration and runners of the FMA genre-classification TFX pipeline."""
