"""VICReg (Bardes, Ponce & LeCun, 2022, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning").

Two augmented views go through the encoder and an *expander* MLP; the loss on the two embeddings Z, Z' ∈ R^{B×D}
is λ·s(Z, Z') + μ·[v(Z) + v(Z')] + ν·[c(Z) + c(Z')] with

- invariance s: mean squared distance between the two embeddings of each image;
- variance v(Z) = (1/D) Σ_j max(0, γ − sqrt(Var(z_j) + ε)), a hinge on each dimension's standard deviation
  over the batch (γ = 1, ε = 1e-4);
- covariance c(Z) = (1/D) Σ_{i≠j} C(Z)_{ij}², C the batch covariance matrix of the embeddings;

and λ = μ = 25, ν = 1 (the paper's coefficients). The reference code (facebookresearch/vicreg) weights the
variance term as μ·[v(Z) + v(Z')]/2; we follow it, so its numbers and ours agree.

Per-sample loss: invariance is a mean over samples, so sample i gets λ·s_i. Variance and covariance are
statistics of the whole batch; the same batch-level value is added to every sample, so the batch mean of the
per-sample loss equals the VICReg loss exactly, but a per-sample gradient (DP-SGD clipping) of these two
terms still depends on the other samples of the batch: per-sample clipping of VICReg is approximate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslmem.methods.base import SSLMethod
from sslmem.methods.heads import mlp_head
from sslmem.models import Encoder


def off_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    """The off-diagonal entries of a square matrix, flattened."""
    size = matrix.shape[0]
    return matrix.flatten()[:-1].view(size - 1, size + 1)[:, 1:].flatten()


def variance_term(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """v(Z): mean over dimensions of the hinge max(0, γ − sqrt(Var_batch(z_j) + ε)) (unbiased variance)."""
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(gamma - std).mean()


def covariance_term(z: torch.Tensor) -> torch.Tensor:
    """c(Z): sum of squared off-diagonal entries of the batch covariance matrix, divided by the dimension."""
    batch, dim = z.shape
    centred = z - z.mean(dim=0)
    cov = centred.T @ centred / (batch - 1)
    return off_diagonal(cov).pow(2).sum() / dim


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4):
    """(invariance per sample [B], variance term, covariance term) of two embedding batches [B, D].

    The variance and covariance terms are the reference's: (v(Z) + v(Z')) / 2 and c(Z) + c(Z').
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"embeddings must both be [B, D], got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError("VICReg's variance and covariance need a batch of at least 2 samples")
    z1, z2 = z1.float(), z2.float()
    invariance = (z1 - z2).pow(2).mean(dim=1)
    variance = (variance_term(z1, gamma, eps) + variance_term(z2, gamma, eps)) / 2
    covariance = covariance_term(z1) + covariance_term(z2)
    return invariance, variance, covariance


class VICReg(SSLMethod):
    """VICReg: two views, a 3-layer expander, and the variance-invariance-covariance loss.

    Args:
        encoder: the backbone.
        expander_dim: width of every expander layer (8192 in the paper).
        invariance_weight: λ, weight of the invariance (MSE) term (25 in the paper).
        variance_weight: μ, weight of the variance hinge (25 in the paper).
        covariance_weight: ν, weight of the covariance term (1 in the paper).
        gamma: target standard deviation of the variance hinge (1 in the paper).
        eps: added to the variance before the square root (1e-4 in the paper).

    >>> method = VICReg(build_encoder("resnet18", 32), expander_dim=2048)
    >>> loss = method.loss([view1, view2], generator)
    """

    name = "vicreg"
    views_per_sample = 2
    recipe_keys = ("expander_dim", "invariance_weight", "variance_weight", "covariance_weight")

    def __init__(self, encoder: Encoder, expander_dim: int = 8192, invariance_weight: float = 25.0,
                 variance_weight: float = 25.0, covariance_weight: float = 1.0, gamma: float = 1.0,
                 eps: float = 1e-4):
        super().__init__(encoder)
        if int(expander_dim) != expander_dim or expander_dim < 2:
            raise ValueError(
                f"expander_dim must be an integer >= 2 (the covariance term needs two dimensions), got {expander_dim}"
            )
        for name, value in (("invariance_weight", invariance_weight), ("variance_weight", variance_weight),
                            ("covariance_weight", covariance_weight)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if invariance_weight == 0 and variance_weight == 0 and covariance_weight == 0:
            raise ValueError("at least one of invariance_weight, variance_weight, covariance_weight must be > 0")
        if gamma <= 0 or eps <= 0:
            raise ValueError(f"gamma and eps must be > 0, got gamma={gamma}, eps={eps}")
        expander_dim = int(expander_dim)
        self.invariance_weight = float(invariance_weight)
        self.variance_weight = float(variance_weight)
        self.covariance_weight = float(covariance_weight)
        self.gamma = float(gamma)
        self.eps = float(eps)
        # As the reference: Linear-BN-ReLU twice, then a bias-free Linear.
        self.expander = mlp_head([
            (encoder.feature_dim, expander_dim, True, "batchnorm", "relu"),
            (expander_dim, expander_dim, True, "batchnorm", "relu"),
            (expander_dim, expander_dim, False, None, None),
        ])

    def projection(self, images: torch.Tensor) -> torch.Tensor:
        """Expander output (the embedding the loss acts on), [B, expander_dim]."""
        return self.expander(self.encoder(images))

    def loss_per_sample(self, views, generator):
        # Separate forwards per view, as the reference (BatchNorm statistics per view).
        z1, z2 = self.projection(views[0]), self.projection(views[1])
        invariance, variance, covariance = vicreg_terms(z1, z2, self.gamma, self.eps)
        batch_terms = self.variance_weight * variance + self.covariance_weight * covariance
        return self.invariance_weight * invariance + batch_terms
