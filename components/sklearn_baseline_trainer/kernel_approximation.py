"""The SVM baseline past `baselines.svm_exact_max_examples`: a kernel approximation that scales near-linearly.

scikit-learn's exact `SVC` (libsvm) takes time between quadratic and cubic in the training examples, and its
prediction is linear in the support vectors, which on hard data are nearly all the examples. On this
project's 2-core machine (`make bench-baselines`: synthetic 8-class rows x 518 features) the exact fit grew as
n^1.85 from 1,000 to 8,000 rows (15.9 s at 8,000, scoring 2,000 rows 13.2 s); at fma_small's 64,000 train
segments that extrapolates to about 12 min of fitting and 15 min of scoring eval and test, where this
approximation took 78 s and 4.6 s. `NystroemSVC` keeps the SVM's model (the same kernel, `C` and `gamma`)
and approximates the kernel instead:

1. `Nystroem` maps each example to `n_components` features whose dot products approximate the kernel
   (the kernel between the example and `n_components` train examples drawn at random, whitened): time
   linear in the examples;
2. a linear SVM on those features: `SGDClassifier(loss="hinge")`, the SVM's own loss, one-vs-rest, with
   `alpha = 1 / (C * n)`: SVC minimises `1/2 |w|^2 + C * sum(hinge)`, SGD `alpha/2 |w|^2 + mean(hinge)`,
   the same objective divided by `C * n`. Time linear in the examples (about 50 passes).

Its parameters are named as SVC's (`C`, `kernel`, `gamma`, `degree`, `coef0`, `class_weight`,
`probability`, `random_state`), so the configured hyperparameters and the grid search's `C`/`gamma` grids
apply to it unchanged; `gamma="scale"` means what it means for SVC, `1 / (n_features * X.var())` of the
data the classifier is fitted on (after scaling and PCA). `kernel="linear"` needs no feature map: the
linear SVM is fitted on the features themselves. `probability=True` adds SVC's Platt scaling: a sigmoid
per class calibrated over 5 folds (`CalibratedClassifierCV`), for `predict_proba` only; `predict` and
`decision_function` are the SVM's, as with SVC.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import SGDClassifier
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

# SVC's parameters that mean the same here; the others (shrinking, cache_size, tol, max_iter, verbose,
# decision_function_shape, break_ties) are libsvm's solver settings, with no counterpart.
SHARED_PARAMS = ("C", "kernel", "degree", "gamma", "coef0", "class_weight", "probability", "random_state")
KERNELS = ("linear", "poly", "rbf", "sigmoid")  # SVC's, less "precomputed" (no features to map)
KERNEL_NAMES = {"rbf": "RBF", "poly": "polynomial kernel", "sigmoid": "sigmoid kernel"}
PLATT_FOLDS = 5  # as SVC's internal cross-validation for probability=True


class NystroemSVC(ClassifierMixin, BaseEstimator):
    """A kernel SVM by Nyström features and a linear SVM (SGD, hinge loss): near-linear time (module doc)."""

    _parameter_constraints: dict = {
        **{name: SVC._parameter_constraints[name] for name in SHARED_PARAMS if name != "kernel"},
        "kernel": [StrOptions(set(KERNELS))],
        "n_components": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        C=1.0,
        kernel="rbf",
        degree=3,
        gamma="scale",
        coef0=0.0,
        class_weight=None,
        probability=False,
        random_state=None,
        n_components=1000,
    ):
        self.C = C
        self.kernel = kernel
        self.degree = degree
        self.gamma = gamma
        self.coef0 = coef0
        self.class_weight = class_weight
        self.probability = probability
        self.random_state = random_state
        self.n_components = n_components

    def fit(self, X, y):
        self._validate_params()
        X, y = check_X_y(X, y, dtype=np.float64)
        check_classification_targets(y)
        self.n_features_in_ = X.shape[1]
        self.gamma_ = kernel_gamma(self.gamma, X)
        if self.kernel == "linear":
            self.feature_map_ = None
        else:
            self.feature_map_ = Nystroem(
                kernel=self.kernel,
                gamma=self.gamma_,
                degree=self.degree,
                coef0=self.coef0,
                n_components=min(self.n_components, len(X)),  # Nyström samples that many train examples
                random_state=self.random_state,
            ).fit(X)
        mapped = self._map(X)
        # SVC: 1/2 |w|^2 + C * sum(hinge); SGD: alpha/2 |w|^2 + mean(hinge); equal for alpha = 1 / (C * n).
        linear = SGDClassifier(
            loss="hinge",
            alpha=1.0 / (self.C * len(X)),
            average=True,  # the averaged iterate: steadier than the last one for a small alpha
            class_weight=self.class_weight,
            random_state=self.random_state,
        )
        self.linear_ = clone(linear).fit(mapped, y)
        self.classes_ = self.linear_.classes_
        self.calibration_ = None
        if self.probability:
            self.calibration_ = CalibratedClassifierCV(linear, method="sigmoid", cv=PLATT_FOLDS).fit(mapped, y)
        return self

    def _map(self, X):
        return X if self.feature_map_ is None else self.feature_map_.transform(X)

    def _checked(self, X):
        check_is_fitted(self, "linear_")
        return self._map(check_array(X, dtype=np.float64))

    def predict(self, X):
        return self.linear_.predict(self._checked(X))

    def decision_function(self, X):
        return self.linear_.decision_function(self._checked(X))

    @available_if(lambda self: self.probability)
    def predict_proba(self, X):
        return self.calibration_.predict_proba(self._checked(X))

    @property
    def n_components_(self) -> int:
        """Nyström components fitted (the setting, or the train examples when fewer); 0 for a linear kernel."""
        check_is_fitted(self, "linear_")
        return 0 if self.feature_map_ is None else int(self.feature_map_.components_.shape[0])


def kernel_gamma(gamma, X: np.ndarray) -> float:
    """SVC's rule: "scale" = 1 / (n_features * X.var()), "auto" = 1 / n_features, else the number given."""
    if gamma == "scale":
        variance = float(X.var())
        return 1.0 / (X.shape[1] * variance) if variance != 0 else 1.0
    if gamma == "auto":
        return 1.0 / X.shape[1]
    return float(gamma)


def from_svc(svc: SVC, n_components: int) -> NystroemSVC:
    """The approximation of a configured SVC: its shared parameters, and `n_components` Nyström components."""
    params = svc.get_params(deep=False)
    return NystroemSVC(**{name: params[name] for name in SHARED_PARAMS}, n_components=n_components)


def label(kernel: str, n_components: int) -> str:
    """What the approximation is, in words: "RBF via Nyström, 1,000 components"."""
    if kernel == "linear":
        return "linear kernel, SGD hinge loss"
    return f"{KERNEL_NAMES.get(kernel, kernel)} via Nyström, {n_components:,} components"
