"""Pipeline definition, configuration and runners of the FMA genre-classification TFX pipeline."""
import os

# TFX 1.16's Trainer/Evaluator/Transform expect Keras 2 (tf_keras); this must be set before TensorFlow is
# first imported, and every entry point of the project imports this package first.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
