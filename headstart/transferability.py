"""Transferability scores: how well frozen features of a backbone fit a labelled task, without training.

Pure functions of an (N, D) feature matrix and (N,) class labels; each returns a float, higher is better.

- **LogME** (You, Liu, Wang, Long, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
  ICML 2021): for each class c, the target y_c ∈ {0,1}^N is modelled as y_c = F w + ε with a Gaussian prior
  w ~ N(0, α⁻¹I_D) and noise ε ~ N(0, β⁻¹I_N). The evidence (marginal likelihood)
  log p(y | F, α, β) = log N(y; 0, β⁻¹I + α⁻¹FFᵀ)
    = D/2 log α + N/2 log β − ½ log|A| − β/2 ‖Fm − y‖² − α/2 ‖m‖² − N/2 log 2π,   A = αI + βFᵀF, m = βA⁻¹Fᵀy,
  is maximised over α, β by the fixed-point iteration γ = Σᵢ σᵢ/(σᵢ + α/β), α ← γ/‖m‖², β ← (N − γ)/‖Fm − y‖²,
  written over the SVD F = U diag(s) Vᵀ (σᵢ = sᵢ²) so each step is O(min(N, D)). The score is the maximised
  evidence divided by N, averaged over classes. As the reference implementation ``LogME._fit_fixed_point`` of
  github.com/thuml/LogME (LogME.py, commit 56551ca): α = β = 1 to start, at most 11 steps, stop when α/β moves by
  ≤ 1e-3 relatively, ε = 1e-5 in the updates' denominators, raw (uncentred) features. Two differences, both
  exact where the reference is approximate: log|A| counts all D eigenvalues (α for the D − k directions beyond the
  k = min(N, D) singular values, thuml/LogME issue #23 / PR #24: without it the score is wrong when N < D), and
  the evidence is evaluated with m at the final α, β (the reference reuses the m of the previous step).
- **H-score** (Bao, Li, Huang, Zheng, Gao, "An Information-theoretic Approach to Transferability in Task Transfer
  Learning", ICIP 2019): H = tr(cov(f)⁻¹ cov(E[f | y])), the between-class variance the features explain. Here with
  the Ledoit-Wolf shrinkage of Ibrahim, Ponomareva, Mazumder ("Newer is not always better: rethinking
  transferability metrics", 2022): cov_λ(f) = (1 − λ)·cov(f) + λ·(tr cov(f)/D)·I with λ from Ledoit & Wolf (2004),
  H_λ = tr(cov_λ(f)⁻¹ (1 − λ) cov(E[f | y])), which is invertible and stable for N < D. Covariances are the
  maximum-likelihood ones (divided by N).
- **kNN leave-one-out accuracy**: each row classified by the majority vote of its k = 5 most cosine-similar other
  rows (embed-knn's rule: ties in similarity go to the earlier row, ties between classes to the lower class).
  k is fixed, not chosen on the same rows: a k picked by leave-one-out would flatter the score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KNN_K = 5  # the middle of embed-knn's grid (1, 3, 5, 9, 15)
LOGME_STEPS = 11  # thuml/LogME: "should converge after at most 10 steps, typically after two or three"
LOGME_TOL = 1e-3  # relative change of α/β that ends the iteration (thuml/LogME)
LOGME_EPS = 1e-5  # keeps α and β finite on a perfect fit (thuml/LogME)


@dataclass(frozen=True)
class Evidence:
    """One target's maximised LogME evidence: ``evidence`` (log p(y | F, α, β) / N) at the ``alpha``, ``beta`` the
    fixed point reached in ``steps`` steps."""

    evidence: float
    alpha: float
    beta: float
    steps: int


def _as_arrays(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if f.ndim != 2 or y.shape != (f.shape[0],):
        raise ValueError(f"expected (N, D) features and (N,) labels, got {f.shape} and {y.shape}")
    if not np.isfinite(f).all():
        raise ValueError("features hold NaN or infinite values")
    return f, y


def logme_evidence(features: np.ndarray, target: np.ndarray) -> Evidence:
    """The maximised LogME evidence of one real-valued target (a class indicator, or a regression target).

    Args:
        features: (N, D) features.
        target: (N,) values.
    """
    f, y = _as_arrays(features, target)
    y = y.astype(np.float64)
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)  # u (N, k), s (k,), k = min(N, D)
    sigma = s**2
    x2 = (u.T @ y) ** 2  # the target's energy along each singular direction
    rest = max(float(y @ y - x2.sum()), 0.0)  # and outside the span of F's columns

    def fit_terms(t: float) -> tuple[float, float, float]:
        """γ, ‖m‖², ‖Fm − y‖² at α/β = t."""
        gamma = float((sigma / (sigma + t)).sum())
        m2 = float((sigma * x2 / (sigma + t) ** 2).sum())
        res2 = float((x2 * (t / (sigma + t)) ** 2).sum()) + rest
        return gamma, m2, res2

    alpha, beta, steps = 1.0, 1.0, 0
    while steps < LOGME_STEPS:
        steps += 1
        t = alpha / beta
        gamma, m2, res2 = fit_terms(t)
        alpha, beta = gamma / (m2 + LOGME_EPS), (n - gamma) / (res2 + LOGME_EPS)
        if abs(alpha / beta - t) / t <= LOGME_TOL:
            break
    _, m2, res2 = fit_terms(alpha / beta)
    log_det = float(np.log(alpha + beta * sigma).sum()) + (d - len(sigma)) * math.log(alpha)
    evidence = (d / 2 * math.log(alpha) + n / 2 * math.log(beta) - log_det / 2 - beta / 2 * res2 - alpha / 2 * m2
                - n / 2 * math.log(2 * math.pi))
    return Evidence(evidence / n, alpha, beta, steps)


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME of class labels: the mean over the classes present of the maximised evidence of their indicator.

    Args:
        features: (N, D) features.
        labels: (N,) class ids.

    Returns:
        The score (per example, in nats; higher is better; comparable between backbones on the same rows).
    """
    f, y = _as_arrays(features, labels)
    return float(np.mean([logme_evidence(f, (y == c).astype(np.float64)).evidence for c in np.unique(y)]))


def h_score(features: np.ndarray, labels: np.ndarray, *, shrinkage: float | None = None) -> float:
    """Shrinkage H-score: tr(cov_λ(f)⁻¹ (1 − λ) cov(E[f | y])).

    Args:
        features: (N, D) features.
        labels: (N,) class ids.
        shrinkage: λ in [0, 1]; None (default) chooses it by Ledoit-Wolf; 0 is Bao et al.'s unregularised score.

    Returns:
        The score, between 0 and the number of classes − 1 (without shrinkage); higher is better.
    """
    f, y = _as_arrays(features, labels)
    f = f - f.mean(0)
    n, d = f.shape
    cov = f.T @ f / n
    if shrinkage is None:
        from sklearn.covariance import ledoit_wolf_shrinkage

        shrinkage = float(ledoit_wolf_shrinkage(f, assume_centered=True))
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"shrinkage must be in [0, 1], got {shrinkage!r}")
    shrunk = (1 - shrinkage) * cov + shrinkage * (np.trace(cov) / d) * np.eye(d)
    classes, index = np.unique(y, return_inverse=True)
    means = np.stack([f[index == i].mean(0) for i in range(len(classes))])  # (C, D), centred class means
    weights = np.bincount(index, minlength=len(classes)) / n
    # cov(E[f|y]) = Σ_c p_c μ_c μ_cᵀ, so its trace against cov_λ⁻¹ is Σ_c p_c μ_cᵀ cov_λ⁻¹ μ_c.
    solved = np.linalg.lstsq(shrunk, means.T, rcond=None)[0] if shrinkage == 0 else np.linalg.solve(shrunk, means.T)
    return float((1 - shrinkage) * np.sum(weights * np.einsum("cd,dc->c", means, solved)))


def knn_loo(features: np.ndarray, labels: np.ndarray, *, k: int = KNN_K) -> float:
    """Leave-one-out accuracy of k-nearest-neighbour voting by cosine similarity.

    Args:
        features: (N, D) features (a zero row has cosine 0 with every row).
        labels: (N,) class ids.
        k: neighbours that vote (capped at N − 1).

    Returns:
        The fraction of rows whose vote gives their own label.
    """
    f, y = _as_arrays(features, labels)
    if len(y) < 2:
        raise ValueError(f"leave-one-out needs at least 2 rows, got {len(y)}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    k = min(k, len(y) - 1)
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    unit = np.divide(f, norms, out=np.zeros_like(f), where=norms > 0)
    similar = unit @ unit.T
    np.fill_diagonal(similar, -np.inf)  # a row never votes for itself
    nearest = np.argsort(-similar, axis=1, kind="stable")[:, :k]
    classes, index = np.unique(y, return_inverse=True)
    votes = np.zeros((len(y), len(classes)))
    np.add.at(votes, (np.repeat(np.arange(len(y)), k), index[nearest].ravel()), 1.0)
    return float(np.mean(votes.argmax(1) == index))
