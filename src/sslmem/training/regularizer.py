"""The alignment regulariser of the SSLMem paper (Sec. 4.4.3, Eq. 3, Fig. 4) as a training hook.

    L_total(f, x) = (1 − λ) · L_SSL(f, x) − λ · E_{x', x'' ∈ Aug(x)} d(f(x'), f(x''))

d is the paper's distance (the one SSLMem measures with): the ℓ2 distance between the ℓ2-normalised
representations of the encoder (not the projection head's or the decoder's output: the paper's point is to act
on the representation itself), so 0 ≤ d ≤ 2 and the term cannot grow without bound by scaling the
representation up (an unnormalised d let training collapse into ever larger representations at λ 0.1–0.3). The
expectation is over two augmentations of each image, and both terms are means over the whole mini-batch, as the
paper computed them. The second term rewards views that lie apart, so it limits alignment and, the paper finds,
memorisation and downstream accuracy with it.

The two augmentations: the method's first two views where it makes two or more (SimCLR, VICReg, SimSiam: its
pair; DINO: its two global crops); for a one-view method (MAE, supervised) the hook asks the loop for one extra
view of every image (same augmentation family), which the method's loss ignores (it reads its first view only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslmem.augment import make_generator
from sslmem.training.hooks import TrainingContext, TrainingHook

# Offset of the extra view's stream in the run's seed sequence (the loop's own draws use epoch and step alone).
EXTRA_VIEW_STREAM = 17


def view_distance(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """ℓ2 distance between two views' ℓ2-normalised representations, per sample: [B, ...] × [B, ...] → [B], in
    [0, 2] (the distance SSLMem measures alignment with, sslmem.measures.alignment)."""
    first, second = F.normalize(first.flatten(1), dim=1), F.normalize(second.flatten(1), dim=1)
    return (first - second).norm(dim=1)


def regularised_loss(ssl_loss: torch.Tensor, distances: torch.Tensor, weight: float) -> torch.Tensor:
    """Eq. 3 over a mini-batch: (1 − λ) · L_SSL − λ · mean distance."""
    return (1.0 - weight) * ssl_loss - weight * distances.mean()


class AlignmentRegularizer(TrainingHook):
    """Eq. 3 with λ = `weight` in [0, 1); records λ and the last step's mean view distance in the checkpoint."""

    def __init__(self, weight: float):
        if not 0 <= weight < 1:
            raise ValueError(f"the alignment regulariser's λ must lie in [0, 1), got {weight}")
        self.weight = float(weight)
        self.last_distance = float("nan")

    def setup(self, context: TrainingContext) -> None:
        method = context.method
        if method.views_per_sample >= 2:
            return
        make_views = method.make_views

        def with_extra_view(images, generator, augment):
            # The method's own view(s), then one more of the same family for the regulariser's second view, drawn
            # from a generator of its own: the method's views and random draws (MAE's masks) stay those of the
            # unregularised run, so encoders of different λ are coupled like f and g.
            extra = make_generator(images.device, *context.spec.streams, EXTRA_VIEW_STREAM, context.epoch,
                                   context.batch_index)
            return [*make_views(images, generator, augment), augment(images, extra)]

        method.make_views = with_extra_view  # an instance attribute: state-dict keys do not change

    def loss(self, context: TrainingContext, views, per_sample, loss):
        encoder = context.method.encoder
        distances = view_distance(encoder.representation(views[0]), encoder.representation(views[1]))
        self.last_distance = float(distances.detach().mean())
        return regularised_loss(loss, distances, self.weight)

    def metadata(self) -> dict:
        return {"alignment_regularizer": {"weight": self.weight, "distance": "l2 of l2-normalised representations",
                                          "last_view_distance": self.last_distance}}
