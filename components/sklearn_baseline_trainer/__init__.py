"""SklearnBaselineTrainer: classic scikit-learn baselines on SpectrogramTransform's engineered features."""
