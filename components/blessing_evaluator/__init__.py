"""BlessingEvaluator (component id "Evaluator"): TFX's Evaluator (TFMA) on the Keras model, with the blessing
thresholds computed at run time (best sklearn baseline, latest blessed model) and the decision recorded.
See README.md."""
