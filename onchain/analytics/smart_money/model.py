"""The smart-money model: which wallets will be profitable in the next window, learnt from the past.

A random forest reads a wallet's features in one window and predicts whether its markout in the
next window is positive. Training splits by time (the newest windows are the test set, never seen
in fitting), so the reported AUC and precision at k are out of sample. Each score is explained by
the features that move it most: every feature in turn is set to its training median and the
change in the predicted probability is that feature's contribution.

NumPy, scikit-learn and joblib are imported inside the functions that fit, score, save and load:
importing this module (as the API does through the analytics service) stays cheap.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onchain.analytics.smart_money.features import FEATURES, Sample, WalletFeatures
from onchain.errors import InputError

MODEL_FILE = re.compile(r"^smart-money-v(\d+)\.joblib$")


@dataclass(frozen=True, slots=True)
class ModelMetrics:
    """Out-of-sample figures on the test windows; AUC is None when the test set holds one class only."""

    auc: float | None
    precision_at_k: float | None
    k: int
    train_samples: int
    test_samples: int
    train_windows: int
    test_windows: int
    positive_rate: float
    feature_importances: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "auc": self.auc,
            "precision_at_k": self.precision_at_k,
            "k": self.k,
            "train_samples": self.train_samples,
            "test_samples": self.test_samples,
            "train_windows": self.train_windows,
            "test_windows": self.test_windows,
            "positive_rate": self.positive_rate,
            "feature_importances": self.feature_importances,
        }


@dataclass(frozen=True, slots=True)
class Contribution:
    feature: str
    value: float
    effect: float  # change in score when this feature is at its training median instead


@dataclass(frozen=True, slots=True)
class WalletScore:
    wallet: str
    score: float
    features: dict[str, float]
    top_features: tuple[Contribution, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.wallet,
            "score": self.score,
            "features": self.features,
            "topFeatures": [{"feature": c.feature, "value": c.value, "effect": c.effect} for c in self.top_features],
        }


@dataclass(slots=True)
class SmartMoneyModel:
    estimator: Any
    features: tuple[str, ...]
    medians: tuple[float, ...]
    metrics: ModelMetrics
    window: int
    horizon: int
    trained_at: float
    version: int = 0
    trained_on: dict[str, Any] = field(default_factory=dict)

    def predict(self, vectors: Sequence[Sequence[float]]) -> list[float]:
        """Probability of a profitable next window for each feature vector."""
        if not vectors:
            return []
        import numpy as np

        matrix = np.asarray(vectors, dtype=float)
        return [float(p) for p in self.estimator.predict_proba(matrix)[:, 1]]

    def score(self, wallets: Mapping[str, WalletFeatures], top: int = 3) -> list[WalletScore]:
        """Scores of wallets, highest first, each with the `top` features behind it."""
        names = sorted(wallets)
        if not names:
            return []
        import numpy as np

        # By name, so a model stored before a feature was added still reads the features it was fitted on.
        rows = [wallets[name].as_dict() for name in names]
        base = np.asarray([[row[feature] for feature in self.features] for row in rows], dtype=float)
        width = len(self.features)
        # Row block j holds every wallet with feature j replaced by its training median.
        probes = np.repeat(base[np.newaxis, :, :], width, axis=0)
        for j, median in enumerate(self.medians):
            probes[j, :, j] = median
        scores = self.estimator.predict_proba(base)[:, 1]
        probed = self.estimator.predict_proba(probes.reshape(-1, width))[:, 1].reshape(width, len(names))
        out = []
        for i, name in enumerate(names):
            effects = [(self.features[j], float(base[i, j]), float(scores[i] - probed[j, i])) for j in range(width)]
            effects.sort(key=lambda item: -abs(item[2]))
            out.append(WalletScore(name, float(scores[i]), dict(zip(self.features, map(float, base[i]), strict=True)),
                                   tuple(Contribution(*item) for item in effects[:top])))
        out.sort(key=lambda s: (-s.score, s.wallet))
        return out


def time_split(samples: Sequence[Sample], test_fraction: float) -> tuple[list[Sample], list[Sample]]:
    """Labelled samples split by window: the newest `test_fraction` of windows are the test set."""
    labelled = [s for s in samples if s.label is not None]
    windows = sorted({s.window for s in labelled})
    if len(windows) < 2:
        raise InputError(f"need labelled samples from at least two windows to split by time, got {len(windows)}")
    test_count = min(len(windows) - 1, max(1, math.ceil(len(windows) * test_fraction)))
    cut = windows[-test_count]
    return [s for s in labelled if s.window < cut], [s for s in labelled if s.window >= cut]


def precision_at_k(samples: Sequence[Sample], scores: Sequence[float], k: int) -> float | None:
    """Share of profitable wallets among the k best-scored in each window, averaged over windows."""
    by_window: dict[int, list[tuple[float, int]]] = {}
    for sample, score in zip(samples, scores, strict=True):
        if sample.label is not None:
            by_window.setdefault(sample.window, []).append((score, sample.label))
    precisions = []
    for ranked in by_window.values():
        ranked.sort(key=lambda item: -item[0])
        best = ranked[:k]
        precisions.append(sum(label for _, label in best) / len(best))
    return sum(precisions) / len(precisions) if precisions else None


def auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """ROC AUC, or None when only one class is present."""
    if len(set(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def fit(samples: Sequence[Sample], *, seed: int = 0, trees: int = 300) -> Any:
    """A random forest on labelled samples (shallow leaves, balanced classes: few wallets, noisy labels)."""
    labels = [s.label for s in samples]
    if len(set(labels)) < 2:
        raise InputError("training needs both profitable and unprofitable wallets in its windows")
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    estimator = RandomForestClassifier(n_estimators=trees, min_samples_leaf=3, class_weight="balanced",
                                       random_state=seed, n_jobs=1)
    estimator.fit(np.asarray([s.features for s in samples], dtype=float), labels)
    return estimator


def train(samples: Sequence[Sample], *, window: int, horizon: int, test_fraction: float = 0.3, k: int = 10,
          seed: int = 0) -> SmartMoneyModel:
    """Fit on the older windows, measure on the newer ones, then refit on all for inference."""
    import numpy as np

    train_set, test_set = time_split(samples, test_fraction)
    estimator = fit(train_set, seed=seed)
    test_scores = [float(p) for p in estimator.predict_proba(np.asarray([s.features for s in test_set]))[:, 1]]
    test_labels = [int(s.label or 0) for s in test_set]
    importances = {name: float(v) for name, v in zip(FEATURES, estimator.feature_importances_, strict=True)}
    metrics = ModelMetrics(
        auc=auc(test_labels, test_scores),
        precision_at_k=precision_at_k(test_set, test_scores, k),
        k=k,
        train_samples=len(train_set),
        test_samples=len(test_set),
        train_windows=len({s.window for s in train_set}),
        test_windows=len({s.window for s in test_set}),
        positive_rate=sum(test_labels) / len(test_labels),
        feature_importances=dict(sorted(importances.items(), key=lambda item: -item[1])),
    )
    everything = [*train_set, *test_set]
    medians = tuple(float(v) for v in np.median(np.asarray([s.features for s in everything]), axis=0))
    return SmartMoneyModel(fit(everything, seed=seed), FEATURES, medians, metrics, window, horizon, time.time())


class ModelStore:
    """Trained models as numbered joblib files in one directory; the highest version is the live one.

    Files are only ever read from the platform's own data directory: joblib files are pickles.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def versions(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        found = (MODEL_FILE.match(path.name) for path in self.directory.iterdir())
        return sorted(int(match.group(1)) for match in found if match)

    def save(self, model: SmartMoneyModel) -> Path:
        """Store `model` as the next version (written aside, then renamed, so readers never see half a file)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        model.version = (self.versions() or [0])[-1] + 1
        path = self.directory / f"smart-money-v{model.version}.joblib"
        partial = path.with_suffix(".partial")
        import joblib

        joblib.dump(model, partial)
        partial.replace(path)
        return path

    def load(self, version: int | None = None) -> SmartMoneyModel | None:
        versions = self.versions()
        if not versions:
            return None
        wanted = versions[-1] if version is None else version
        path = self.directory / f"smart-money-v{wanted}.joblib"
        if not path.exists():
            return None
        import joblib  # unpickling the forest imports scikit-learn here, in the process that scores

        model = joblib.load(path)
        if not isinstance(model, SmartMoneyModel):
            raise InputError(f"{path} does not hold a smart-money model")
        return model
