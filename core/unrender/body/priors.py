"""Priors and robust terms of SMPLify-style fitting: a Gaussian-mixture pose prior, Geman-McClure, joint limits.

The pose prior is a mixture of ``K`` full-covariance Gaussians over the 69
numbers of SMPL's ``body_pose``. :func:`fit_gmm` fits one by EM (unrender
fits its default on :func:`~unrender.body.poses.sample_body_poses`);
:class:`PosePrior` scores poses by the best component's negative log
likelihood (SMPLify's "max mixture" approximation, smooth enough for
gradient descent) and reads and writes ``.npz`` files (``weights (K,)``,
``means (K, D)``, ``covariances (K, D, D)``), so a user can bring their own.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

__all__ = ["PosePrior", "bend_penalty", "fit_gmm", "geman_mcclure"]


def geman_mcclure(residual: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure robust penalty ``s^2 r^2 / (s^2 + r^2)`` of residuals (any shape, elementwise):
    quadratic near 0, bounded by ``s^2`` for outliers."""
    s2 = float(sigma) ** 2
    r2 = residual * residual
    return s2 * r2 / (s2 + r2)


# (joint index in body_pose (0 = left_hip), axis, sign): the direction each joint may NOT bend in.
_ONE_WAY = ((17, 1, 1.0), (18, 1, -1.0), (3, 0, -1.0), (4, 0, -1.0))  # elbows about Y, knees about X


def bend_penalty(body_pose: torch.Tensor) -> torch.Tensor:
    """``(B,)`` penalty on elbows and knees bending the wrong way (SMPLify's ``exp`` terms, squared).

    Args:
        body_pose: ``(B, 23, 3)`` or ``(B, 69)`` axis-angle.
    """
    pose = body_pose.reshape(body_pose.shape[0], 23, 3)
    terms = [torch.exp(sign * pose[:, j, axis]) - 1.0 for j, axis, sign in _ONE_WAY]
    return sum(torch.relu(t) ** 2 for t in terms)


def fit_gmm(x: torch.Tensor, k: int, *, iterations: int = 100, seed: int = 0, reg: float = 1e-4):
    """EM fit of a ``k``-component full-covariance Gaussian mixture to ``x (N, D)``.

    Means start at ``k`` distinct random samples; ``reg`` is added to each
    covariance's diagonal. Returns ``(weights (k,), means (k, D), covariances (k, D, D))`` float64.
    """
    x = x.detach().to(torch.float64).reshape(x.shape[0], -1)
    n, d = x.shape
    if not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k: expected an int in [1, {n}] (the number of samples), found {k!r}")
    g = torch.Generator().manual_seed(seed)
    means = x[torch.randperm(n, generator=g)[:k]].clone()
    cov = torch.cov(x.T).expand(k, d, d).clone() + reg * torch.eye(d, dtype=x.dtype)
    weights = torch.full((k,), 1.0 / k, dtype=x.dtype)
    for _ in range(iterations):
        logp = _log_gauss(x, means, cov) + weights.log()  # (N, k)
        resp = torch.softmax(logp, 1)
        nk = resp.sum(0).clamp_min(1e-10)
        weights = nk / n
        means = (resp.T @ x) / nk[:, None]
        diff = x[None] - means[:, None]  # (k, N, D)
        cov = torch.einsum("kn,kni,knj->kij", resp.T, diff, diff) / nk[:, None, None]
        cov = cov + reg * torch.eye(d, dtype=x.dtype)
    return weights, means, cov


def _log_gauss(x: torch.Tensor, means: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """``(N, K)`` log densities of ``x (N, D)`` under each Gaussian."""
    chol = torch.linalg.cholesky(cov)  # (K, D, D)
    diff = (x[None] - means[:, None]).transpose(1, 2)  # (K, D, N)
    z = torch.linalg.solve_triangular(chol, diff, upper=False)
    maha = (z * z).sum(1)  # (K, N)
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1)
    return (-0.5 * (maha + logdet[:, None] + x.shape[1] * math.log(2 * math.pi))).T


class PosePrior:
    """Gaussian-mixture prior over ``body_pose`` ``(B, 69)``.

    ``prior(pose)`` -> ``(B,)``: ``min_k [0.5 |L_k^-1 (x - m_k)|^2 - log w_k + 0.5 log det C_k]``
    (the best component's negative log likelihood, up to a constant).
    """

    def __init__(self, weights, means, covariances) -> None:
        w = torch.as_tensor(np.asarray(weights), dtype=torch.float64)
        m = torch.as_tensor(np.asarray(means), dtype=torch.float64)
        c = torch.as_tensor(np.asarray(covariances), dtype=torch.float64)
        k = w.shape[0] if w.dim() == 1 else -1
        if k < 1 or m.shape[0] != k or m.dim() != 2 or c.shape != (k, m.shape[1], m.shape[1]):
            raise ValueError(f"pose prior: expected weights (K,), means (K, D), covariances (K, D, D), found "
                             f"{tuple(w.shape)}, {tuple(m.shape)}, {tuple(c.shape)}")
        if not (torch.isfinite(w).all() and torch.isfinite(m).all() and torch.isfinite(c).all()) or (w <= 0).any():
            raise ValueError("pose prior: expected finite numbers and positive weights")
        try:
            chol = torch.linalg.cholesky(c)
        except RuntimeError:
            raise ValueError("pose prior: covariances must be symmetric positive definite") from None
        self.weights, self.means = w / w.sum(), m
        self.precision_chol = torch.linalg.inv(chol)  # (K, D, D): L^-1
        self.offset = -torch.log(self.weights) + torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1)

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def __call__(self, pose: torch.Tensor) -> torch.Tensor:
        x = pose.reshape(pose.shape[0], -1)
        if x.shape[1] != self.dim:
            raise ValueError(f"pose: expected {self.dim} numbers per pose, found {x.shape[1]}")
        L = self.precision_chol.to(x)
        z = torch.einsum("kij,bkj->bki", L, x[:, None] - self.means.to(x)[None])
        return (0.5 * (z * z).sum(-1) + self.offset.to(x)).min(1).values

    @classmethod
    def fit(cls, poses: torch.Tensor, k: int = 8, **kw) -> "PosePrior":
        return cls(*fit_gmm(poses, k, **kw))

    def save(self, path) -> None:
        cov = torch.linalg.inv(self.precision_chol)
        cov = cov @ cov.transpose(1, 2)
        np.savez_compressed(Path(path), weights=self.weights.numpy(), means=self.means.numpy(),
                            covariances=cov.numpy())

    @classmethod
    def load(cls, path) -> "PosePrior":
        p = Path(path)
        with np.load(p, allow_pickle=False) as z:
            missing = {"weights", "means", "covariances"} - set(z.files)
            if missing:
                raise ValueError(f"{p}: expected a pose prior with weights, means and covariances, missing "
                                 f"{sorted(missing)}")
            return cls(z["weights"], z["means"], z["covariances"])
