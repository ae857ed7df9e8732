"""The numbers drift is judged by: PSI and Jensen-Shannon distance of two distributions,
the noise floor a window of n rows reaches by chance (chi-square), and binomial tails.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

#: Added to every bin's count before shares are taken, so that an empty bin (every
#: training value is inside the training range) does not make the PSI infinite.
SMOOTHING = 0.5


def shares(counts: np.ndarray) -> np.ndarray:
    """Smoothed shares of rows per bin."""
    smoothed = counts.astype(np.float64) + SMOOTHING
    return np.asarray(smoothed / smoothed.sum())


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of ``actual`` counts against ``expected`` counts."""
    p, q = shares(expected), shares(actual)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(expected: np.ndarray, actual: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2: 0 identical, 1 disjoint) of the two shares."""
    p, q = shares(expected), shares(actual)
    m = (p + q) / 2
    divergence = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
    return float(math.sqrt(max(divergence, 0.0)))


def chi_square_quantile(degrees: int, probability: float) -> float:
    """The chi-square quantile (Wilson-Hilferty; within 1% for the degrees used here)."""
    if degrees <= 0:
        return 0.0
    z = NormalDist().inv_cdf(probability)
    h = 2 / (9 * degrees)
    return float(degrees * (1 - h + z * math.sqrt(h)) ** 3)


def noise_floor(bins: int, rows: int, baseline_rows: int, false_alarm: float) -> float:
    """The PSI two samples of one population exceed with chance ``false_alarm``.

    For samples of n and N rows over k bins, n·N/(n+N) times the PSI is close to a
    chi-square variable with k-1 degrees of freedom.
    """
    if rows == 0 or baseline_rows == 0:
        return math.inf
    scale = 1 / rows + 1 / baseline_rows
    return scale * chi_square_quantile(bins - 1, 1 - false_alarm)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how likely k or more of n rows by chance alone."""
    if k <= n * p or p >= 1:
        return 1.0
    if p <= 0:
        return 0.0
    log_p, log_q, log_n = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    total = 0.0
    for i in range(k, min(n, k + 100_000) + 1):  # beyond the mean the terms fall fast
        term = math.exp(
            log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        )
        total += term
        if term <= total * 1e-12:
            break
    return min(total, 1.0)
