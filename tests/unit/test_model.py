"""The Parzen model's density against its definition, computed point by point."""

from __future__ import annotations

import numpy as np

from ray_pgsearch._model import ParzenModel, Points


def _direct_density(model: ParzenModel, x: np.ndarray, points: Points) -> float:
    """p(x) = (sum_i w_i k(x, x_i) + prior) / (sum_i w_i + 1), one kernel factor per coordinate."""
    d, m = model.n_numeric, points.mass
    h = model._bandwidth(m)
    total = 0.0
    for i, (row, w) in enumerate(zip(points.rows, points.weights, strict=True)):
        known = np.ones(row.size, bool) if points.known is None else points.known[i]
        k = w
        for j in range(d):
            if known[j]:
                k *= np.exp(-0.5 * ((x[j] - row[j]) / h) ** 2) / (h * np.sqrt(2 * np.pi))
        for j, size in enumerate(model.category_sizes, start=d):
            lam = model._smoothing(size, m)
            if not known[j]:
                k *= 1.0 / size
            elif size > 1:
                k *= 1.0 - lam if x[j] == row[j] else lam / (size - 1)
        total += k
    return (total + np.exp(model.log_uniform)) / (m + 1)


def test_log_density_matches_its_definition_with_unknown_coordinates_and_single_categories():
    rng = np.random.default_rng(3)
    sizes = [3, 1, 4]
    model = ParzenModel(2, sizes, bandwidth=0.3, category_smoothing=1.0)

    def rows(n):
        return np.column_stack([rng.random((n, 2))] + [rng.integers(0, k, n) for k in sizes])

    candidates = rows(7)
    full = Points(rows(5), rng.uniform(0.1, 2.0, 5))
    partial = Points(rows(6), rng.uniform(0.1, 2.0, 6), rng.random((6, 5)) < 0.7)
    for points in (full, partial, Points.stack(full, partial)):
        expected = [np.log(_direct_density(model, x, points)) for x in candidates]
        # the kernel matrix is single precision: about 7 significant digits
        np.testing.assert_allclose(model.log_density(candidates, points), expected, rtol=1e-5)
    empty = Points(np.zeros((0, 5)), np.zeros(0))
    np.testing.assert_allclose(model.log_density(candidates, empty), model.log_uniform)
    good_minus_bad = model.log_density(candidates, full) - model.log_density(candidates, partial)
    np.testing.assert_allclose(model.score(candidates, full, partial), good_minus_bad, rtol=1e-12)


def test_sampling_with_the_prior_point_draws_from_the_mixture_the_density_scores():
    """With prior weight 1 a group of mass m gives 1 / (m + 1) of its draws to the uniform prior point
    (every category, the whole unit interval); without it every draw stays near the group's points."""
    model = ParzenModel(1, [4], bandwidth=0.1, category_smoothing=1.0)
    points = Points(np.array([[0.5, 2.0], [0.5, 2.0], [0.5, 2.0]]), np.ones(3))
    n = 8000
    for prior, share in ((0.0, 0.0), (1.0, 0.25)):
        rows = model.sample(np.random.default_rng(0), points, n, prior)
        far = rows[:, 0] < 0.1  # five bandwidths below the points: only the uniform draws
        assert abs(far.mean() - 0.1 * share) < 0.008
        if prior:  # the uniform draws spread over every category; the kernel keeps the points' own one
            assert abs((rows[far, 1] == 2.0).mean() - 0.25) < 0.1
