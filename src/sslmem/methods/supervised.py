"""Supervised baseline: the backbone with a linear classification layer, trained with cross-entropy.

Used for the SSL-vs-supervised comparisons of the SSLMem paper (Wang et al., ICLR 2024, App. B.3, Tables 11–12
and Fig. 8): "we train a ResNet50 in a supervised way on CIFAR10, using the cross-entropy loss. Then, we turn
the resulting model into an encoder by removing the last (classification) layer." Here the encoder is
``self.encoder`` and the removed layer is ``self.classifier``; SSLMem, LayerMem and UnitMem read the encoder only,
exactly as for the SSL methods. Feldman's (2020) supervised memorisation score reads the softmax of
:meth:`logits`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslmem.methods.base import SSLMethod
from sslmem.models import Encoder


class Supervised(SSLMethod):
    """Cross-entropy on one augmented view per image; needs the images' labels.

    Args:
        encoder: the backbone (the "model without the head").
        num_classes: number of classes of the training set (10 for CIFAR10 and Fashion-MNIST).
        label_smoothing: label smoothing of the cross-entropy (0 = plain cross-entropy, the paper's).

    Unlike the SSL methods, :meth:`loss_per_sample` takes the batch's labels (``needs_labels = True`` tells
    the training loop to pass them).

    >>> method = Supervised(build_encoder("resnet50", 32), num_classes=10)
    >>> per_sample = method.loss_per_sample([view], generator, labels=labels)   # [B]
    """

    name = "supervised"
    needs_labels = True
    couples_samples = False  # cross-entropy per image; BatchNorm's batch statistics are replaced for DP-SGD
    has_projection_head = False
    views_per_sample = 1
    recipe_keys = ("num_classes",)

    def __init__(self, encoder: Encoder, num_classes: int = 10, label_smoothing: float = 0.0):
        super().__init__(encoder)
        if int(num_classes) != num_classes or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2 (the dataset's number of labels), got {num_classes}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)
        self.classifier = nn.Linear(encoder.feature_dim, self.num_classes)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits [B, num_classes]."""
        return self.classifier(self.encoder(images))

    def projection(self, images: torch.Tensor) -> torch.Tensor:
        """The classification layer's output (the supervised model's "head"), [B, num_classes]."""
        return self.logits(images)

    def loss_per_sample(self, views, generator, labels: torch.Tensor | None = None):
        if labels is None:
            raise ValueError(
                "the supervised method needs the batch's labels: call loss_per_sample(views, generator, labels=...) "
                "(the training loop passes them when method.needs_labels is True)"
            )
        images = views[0]
        labels = labels.to(images.device).long()
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape [{images.shape[0]}], got {tuple(labels.shape)}")
        # Checked eagerly only: reading the range is a host sync (and a graph break under torch.compile).
        if not torch.compiler.is_compiling() and labels.numel() and (
            int(labels.min()) < 0 or int(labels.max()) >= self.num_classes
        ):
            raise ValueError(
                f"labels must lie in [0, {self.num_classes}); got [{int(labels.min())}, {int(labels.max())}] "
                f"(set methods.supervised.num_classes to the dataset's number of classes)"
            )
        return self(views, None, labels=labels)

    def forward(self, views, randomness=None, labels: torch.Tensor | None = None):
        """Cross-entropy of each sample [B] (no random draws; the labels were checked by loss_per_sample)."""
        return F.cross_entropy(self.logits(views[0]).float(), labels.long(), reduction="none",
                               label_smoothing=self.label_smoothing)

    def loss(self, views, generator, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.loss_per_sample(views, generator, labels=labels).mean()
