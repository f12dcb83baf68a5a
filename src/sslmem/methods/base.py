"""The one interface every SSL method implements.

A method owns the heads it trains (projection head, MAE decoder, ...) and the encoder; the training loop
(`sslmem.training`) owns optimisation, schedules, precision, checkpoints and data. A method answers:

- how many augmented views of each image one step needs (``views_per_sample``) and with which augmentation
  family (params.yaml `methods.<name>.augment`);
- its loss **per sample** (``loss_per_sample``), so DP-SGD can clip per example and the loop can add extra
  per-sample terms such as the alignment regulariser of Eq. 3;
- whether that loss couples the samples of a batch (``couples_samples``: contrastive negatives, batch
  statistics), which decides whether DP-SGD may train it; a method that does not couple them splits its loss
  into ``draw_randomness`` (the step's random draws, e.g. MAE's masks) and ``forward`` (the per-sample loss given
  them), so that DP-SGD can compute each sample's gradient on its own (``torch.func.vmap``);
- the output of its projection head (``projection``), an optional representation to score on;
- what to do after each optimiser step (``after_step``; e.g. a teacher EMA).
"""

from __future__ import annotations

from typing import ClassVar, Mapping

import torch
from torch import nn

from sslmem.models import Encoder


class SSLMethod(nn.Module):
    """Base class: subclasses set the class attributes and implement ``loss_per_sample``.

    Attributes:
        name: registry key used in params.yaml.
        needs_vit: whether the method only works with a ViT backbone (MAE masks patches).
        views_per_sample: augmented views of each image per training step.
        recipe_keys: the method-specific keys read from params.yaml `methods.<name>`.
        couples_samples: whether one sample's loss depends on the other samples of its batch (SimCLR's negatives,
            DINO's centring, VICReg's variance and covariance terms, SimSiam's BatchNorm heads). DP-SGD clips each
            sample's gradient, which bounds a sample's influence only when it does not act through the others'
            losses, so a private setup of such a method is refused (sslmem.training.privacy).
        has_projection_head: whether ``projection`` is a head of its own that may be scored
            (measure.representation: projection). False for MAE (no head: its encoder output is what is read)
            and for the supervised baseline (its head is the classifier, which App. B.3 removes before scoring).
    """

    name: ClassVar[str] = ""
    needs_vit: ClassVar[bool] = False
    views_per_sample: ClassVar[int] = 2
    recipe_keys: ClassVar[tuple[str, ...]] = ()
    needs_labels: ClassVar[bool] = False
    has_projection_head: ClassVar[bool] = True
    couples_samples: ClassVar[bool] = True

    def __init__(self, encoder: Encoder):
        super().__init__()
        self.encoder = encoder

    @classmethod
    def from_recipe(cls, encoder: Encoder, recipe: Mapping) -> "SSLMethod":
        missing = [key for key in cls.recipe_keys if key not in recipe]
        if missing:
            raise ValueError(f"methods.{cls.name}: missing keys {missing}")
        return cls(encoder, **{key: recipe[key] for key in cls.recipe_keys})

    def make_views(self, images: torch.Tensor, generator: torch.Generator, augment) -> list[torch.Tensor]:
        """The augmented, normalised views one training step needs (override for multi-crop)."""
        return [augment(images, generator) for _ in range(self.views_per_sample)]

    def loss_per_sample(self, views: list[torch.Tensor], generator: torch.Generator, **extra) -> torch.Tensor:
        """Loss of each sample of the batch, shape [B]; `views` holds ``views_per_sample`` tensors [B, 3, H, W].

        Default: the per-sample split (:meth:`draw_randomness`, :meth:`forward`); coupled methods override it."""
        return self(views, self.draw_randomness(views, generator), **extra)

    def draw_randomness(self, views: list[torch.Tensor], generator: torch.Generator) -> torch.Tensor | None:
        """The random draws of one step's loss, one row per sample (``couples_samples = False`` methods)."""
        return None

    def forward(self, views: list[torch.Tensor], randomness: torch.Tensor | None, **extra) -> torch.Tensor:
        """Per-sample loss [B] given :meth:`draw_randomness`'s draws: what DP-SGD differentiates sample by sample.

        Methods with ``couples_samples = False`` implement it and their ``loss_per_sample`` is
        ``self(views, self.draw_randomness(views, generator))``; batch size 1 must give the sample's loss."""
        raise NotImplementedError(f"{self.name} computes its loss over the whole batch (couples_samples)")

    def loss(self, views: list[torch.Tensor], generator: torch.Generator) -> torch.Tensor:
        return self.loss_per_sample(views, generator).mean()

    def projection(self, images: torch.Tensor) -> torch.Tensor:
        """Projection-head output [B, P] (measure.representation = projection)."""
        raise NotImplementedError(f"{self.name} has no projection head")

    @property
    def scoring_encoder(self) -> Encoder:
        """The encoder whose representations are scored and probed (DINO: the teacher, as its paper evaluates)."""
        return self.encoder

    def scoring_projection(self, images: torch.Tensor) -> torch.Tensor:
        """Projection output that is scored (measure.representation = projection); DINO: the teacher's."""
        return self.projection(images)

    def representation_fn(self, representation: str):
        """The function scored for `representation`: "encoder" (the scoring encoder's full representation, as the
        paper) or "projection" (the projection head's output, for methods that have one)."""
        if representation == "encoder":
            return self.scoring_encoder.representation
        if representation == "projection" and self.has_projection_head:
            return self.scoring_projection
        raise ValueError(
            f"{self.name}: representation {representation!r} is not available; use 'encoder'"
            + ("" if self.has_projection_head else f" ({self.name} has no projection head of its own to score)")
        )

    def after_step(self, step: int, total_steps: int) -> None:
        """Called after every optimiser step (EMA teachers etc.)."""
