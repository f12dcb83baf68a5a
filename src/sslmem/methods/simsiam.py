"""SimSiam (Chen & He, 2021, "Exploring Simple Siamese Representation Learning").

Two views x1, x2 of an image go through the same encoder and projector (z1, z2) and a predictor (p1, p2); the
loss is the symmetric negative cosine similarity with a stop-gradient on the projector outputs,
L = D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2, D(p, z) = −cos(p, z). The stop-gradient is what prevents collapse
without negatives, momentum encoders or large batches.

Reference implementation: facebookresearch/simsiam (`simsiam/builder.py`). One departure, in mechanics the
shared training loop owns: the reference keeps the predictor's learning rate fixed (``--fix-pred-lr``) while the
rest follows the cosine schedule; here every parameter follows the loop's schedule.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslmem.methods.base import SSLMethod
from sslmem.methods.heads import mlp_head
from sslmem.models import Encoder


def negative_cosine_per_sample(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Symmetric SimSiam loss of each sample, −(cos(p1, sg(z2)) + cos(p2, sg(z1))) / 2, in [−1, 1]."""
    return -(
        F.cosine_similarity(p1.float(), z2.detach().float(), dim=-1)
        + F.cosine_similarity(p2.float(), z1.detach().float(), dim=-1)
    ) / 2


class SimSiam(SSLMethod):
    """SimSiam: encoder + 3-layer projector (BN on every layer) + 2-layer bottleneck predictor, stop-gradient.

    Args:
        encoder: the backbone.
        projection_dim: output size of the projector and the predictor (2048 in the paper).
        projection_hidden_dim: hidden size of the projector (2048 in the paper).
        predictor_hidden_dim: bottleneck size of the predictor (512 in the paper).

    >>> method = SimSiam(build_encoder("resnet18", 32), projection_dim=2048, predictor_hidden_dim=512)
    >>> loss = method.loss([view1, view2], generator)
    """

    name = "simsiam"
    views_per_sample = 2
    recipe_keys = ("projection_dim", "projection_hidden_dim", "predictor_hidden_dim")

    def __init__(self, encoder: Encoder, projection_dim: int = 2048, projection_hidden_dim: int = 2048,
                 predictor_hidden_dim: int = 512):
        super().__init__(encoder)
        for name, value in (("projection_dim", projection_dim), ("projection_hidden_dim", projection_hidden_dim),
                            ("predictor_hidden_dim", predictor_hidden_dim)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        dim, hidden, bottleneck = int(projection_dim), int(projection_hidden_dim), int(predictor_hidden_dim)
        # As the reference: BN after every projector layer; the output BN has no affine parameters (the
        # reference achieves the same by freezing the bias of the last Linear, which BN makes redundant).
        self.projector = mlp_head([
            (encoder.feature_dim, hidden, False, "batchnorm", "relu"),
            (hidden, hidden, False, "batchnorm", "relu"),
            (hidden, dim, False, "batchnorm_no_affine", None),
        ])
        self.predictor = mlp_head([
            (dim, bottleneck, False, "batchnorm", "relu"),
            (bottleneck, dim, True, None, None),
        ])

    def projection(self, images: torch.Tensor) -> torch.Tensor:
        """Projector output z, [B, projection_dim]."""
        return self.projector(self.encoder(images))

    def loss_per_sample(self, views, generator):
        # Separate forwards per view, as the reference (BatchNorm statistics per view).
        z1, z2 = self.projection(views[0]), self.projection(views[1])
        p1, p2 = self.predictor(z1), self.predictor(z2)
        return negative_cosine_per_sample(p1, p2, z1, z2)
