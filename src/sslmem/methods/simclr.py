"""SimCLR (Chen et al., 2020, "A Simple Framework for Contrastive Learning of Visual Representations")."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslmem.methods.base import SSLMethod
from sslmem.methods.heads import mlp_head
from sslmem.models import Encoder


def nt_xent_per_sample(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Normalised-temperature cross entropy (SimCLR Eq. 1) per sample, averaged over its two anchors.

    Each of the 2B projections is an anchor whose positive is the other view of the same image and whose
    negatives are the other 2B − 2 projections.
    """
    batch = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * batch, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(z.device)
    per_anchor = F.cross_entropy(logits.float(), positives, reduction="none")
    return (per_anchor[:batch] + per_anchor[batch:]) / 2


class SimCLR(SSLMethod):
    """SimCLR: two augmented views, a 2-layer MLP projection head and the NT-Xent loss.

    Args:
        encoder: the backbone.
        temperature: softmax temperature τ of NT-Xent (> 0; 0.5 for CIFAR in the paper).
        projection_dim: output size of the projection head.
        projection_hidden_dim: hidden size of the projection head.

    >>> method = SimCLR(build_encoder("resnet18", 32), temperature=0.5)
    >>> loss = method.loss([view1, view2], generator)
    """

    name = "simclr"
    views_per_sample = 2
    recipe_keys = ("temperature", "projection_dim", "projection_hidden_dim")

    def __init__(self, encoder: Encoder, temperature: float = 0.5, projection_dim: int = 128,
                 projection_hidden_dim: int = 2048):
        super().__init__(encoder)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if projection_dim < 1 or projection_hidden_dim < 1:
            raise ValueError("projection sizes must be positive")
        self.temperature = temperature
        self.projector = mlp_head([
            (encoder.feature_dim, projection_hidden_dim, True, "batchnorm", "relu"),
            (projection_hidden_dim, projection_dim, True, None, None),
        ])

    def projection(self, images: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(images))

    def loss_per_sample(self, views, generator):
        batch = views[0].shape[0]
        # One forward over both views keeps BatchNorm statistics shared, as in the reference implementation.
        z = self.projection(torch.cat(views[:2]))
        return nt_xent_per_sample(z[:batch], z[batch:], self.temperature)
