"""DINO (Caron et al., 2021, "Emerging Properties in Self-Supervised Vision Transformers").

Self-distillation without labels: a student network is trained to match, by cross-entropy, the centred and
sharpened output distribution of a teacher network that is an exponential moving average (EMA) of the student.
The teacher sees only the two global crops of an image; the student sees every crop (multi-crop), so the
student learns "local-to-global" correspondences. Centring (a running mean of teacher outputs subtracted
before the teacher's softmax) and sharpening (a low teacher temperature) together avoid collapse.

Reference implementation: facebookresearch/dino (`main_dino.py`, `vision_transformer.py::DINOHead`).
Departures, all in mechanics the shared training loop owns: no gradient clipping, no freezing of the last
layer during the first epoch, and a constant weight decay (the reference ramps it 0.04 → 0.4).
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sslmem.augment import BatchAugment
from sslmem.methods.base import SSLMethod
from sslmem.methods.heads import mlp_head
from sslmem.models import Encoder


class NormalizedLinear(nn.Module):
    """A bias-free linear layer whose weight rows are ℓ2-normalised on every forward.

    This is DINO's weight-normalised last layer, ``weight_norm(Linear(in, out, bias=False))`` with the norm
    ``g`` fixed to 1 (the reference's default ``norm_last_layer=True``): only the direction ``v`` is learned.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, F.normalize(self.weight, dim=1))


class DINOHead(nn.Module):
    """DINO's projection head: 3-layer MLP (GELU) → bottleneck → ℓ2-normalise → weight-normalised linear.

    Args:
        in_dim: encoder feature size.
        out_dim: number of output "prototypes" K (65536 in the paper).
        hidden_dim: hidden size of the MLP (2048 in the paper).
        bottleneck_dim: size of the bottleneck before the last layer (256 in the paper).

    >>> head = DINOHead(384, out_dim=65536)
    >>> logits = head(features)            # [B, 65536], before the temperature softmax
    """

    def __init__(self, in_dim: int, out_dim: int = 65536, hidden_dim: int = 2048, bottleneck_dim: int = 256):
        super().__init__()
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim), ("hidden_dim", hidden_dim),
                            ("bottleneck_dim", bottleneck_dim)):
            if int(value) < 1:
                raise ValueError(f"DINOHead {name} must be a positive integer, got {value}")
        self.mlp = mlp_head([
            (in_dim, hidden_dim, True, None, "gelu"),
            (hidden_dim, hidden_dim, True, None, "gelu"),
            (hidden_dim, bottleneck_dim, True, None, None),
        ])
        for module in self.mlp:
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
        self.last_layer = NormalizedLinear(bottleneck_dim, out_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.last_layer(F.normalize(self.mlp(features), dim=-1))


def dino_cross_entropy_per_sample(
    student_logits: Sequence[torch.Tensor],
    teacher_logits: Sequence[torch.Tensor],
    center: torch.Tensor,
    student_temperature: float,
    teacher_temperature: float | torch.Tensor,
) -> torch.Tensor:
    """DINO loss of each sample: mean over (teacher global crop q, student crop v ≠ q) of H(P_t(q), P_s(v)).

    ``student_logits`` holds one [B, K] tensor per crop (global crops first, in the same order as
    ``teacher_logits``, which holds one [B, K] tensor per global crop). P_t = softmax((t − center) / τ_t),
    P_s = softmax(s / τ_s), H(a, b) = −Σ a log b. The batch mean of the result equals the reference loss.
    """
    student_log_probs = [F.log_softmax(s.float() / student_temperature, dim=-1) for s in student_logits]
    teacher_probs = [F.softmax((t.float() - center) / teacher_temperature, dim=-1).detach() for t in teacher_logits]
    total, terms = None, 0
    for q, target in enumerate(teacher_probs):
        for v, log_prob in enumerate(student_log_probs):
            if v == q:
                continue  # the student is never asked to match the teacher on the very same crop
            term = -(target * log_prob).sum(dim=-1)
            total = term if total is None else total + term
            terms += 1
    if terms == 0:
        raise ValueError("DINO needs at least two crops (two global crops, or one global crop and local crops)")
    return total / terms


class DINO(SSLMethod):
    """DINO: student (encoder + :class:`DINOHead`) distilled from an EMA teacher on multi-crop views.

    Args:
        encoder: the student backbone (ResNet or ViT); the teacher starts as a deep copy of it.
        out_dim: output size K of the DINO head (65536 in the paper).
        head_hidden_dim: hidden size of the head's MLP (2048 in the paper).
        bottleneck_dim: bottleneck size of the head (256 in the paper).
        student_temperature: τ_s (0.1 in the paper).
        teacher_temperature: τ_t after warm-up (0.04–0.07 in the paper).
        warmup_teacher_temperature: τ_t at the first step; it rises linearly to ``teacher_temperature``
            (equal values disable the warm-up; the paper warms 0.04 → 0.07 over 30 epochs).
        warmup_teacher_fraction: fraction of all training steps the τ_t warm-up lasts, in [0, 1).
        teacher_momentum: EMA momentum of the teacher at the first step; it follows a cosine schedule to 1
            at the last step (0.996 in the paper).
        center_momentum: momentum of the running centre of teacher outputs (0.9 in the paper).
        local_crops: number of local crops per image (8 in the paper; 0 gives the two-global-crop variant).
        local_crop_size: side length of local crops: pixels (an integer >= 1; with a ViT a multiple of the patch
            size), or a fraction of the global crop size ``encoder.image_size`` (a float in (0, 1)), rounded to
            the nearest multiple of the ViT patch size (at least one patch). The paper uses 96 px for 224-px global
            crops, i.e. 0.43; a fraction suits every dataset of a run, pixels only one resolution.
        local_crop_scale: area range of local crops as a fraction of the image ((0.05, 0.4) in the paper).

    Global crops use the augmentation family passed to :meth:`make_views` (its ``crop_scale`` should be DINO's
    (0.4, 1)); local crops reuse that family with ``local_crop_scale`` at ``self.local_crop_size`` pixels.

    The teacher (``self.teacher``: ``encoder`` and ``head``) is a registered submodule so that it lives in
    ``state_dict()`` and checkpoints restore it, but its parameters have ``requires_grad=False``, so the
    training loop's optimiser never sees them; :meth:`after_step` moves them by EMA. The centre and the
    schedule position are buffers, also restored on resume. ``self.encoder`` (what SSLMem scores) is the
    student's; the teacher's is ``self.teacher.encoder`` (the paper evaluates the teacher).

    >>> method = DINO(build_encoder("vit_tiny", 32, patch_size=4), out_dim=4096, local_crops=4, local_crop_size=16)
    >>> loss = method.loss(method.make_views(images_uint8, generator, augment), generator)
    >>> method.after_step(step, total_steps)      # EMA teacher and centre update
    """

    name = "dino"
    views_per_sample = 2 + 8
    recipe_keys = (
        "out_dim",
        "head_hidden_dim",
        "bottleneck_dim",
        "student_temperature",
        "teacher_temperature",
        "warmup_teacher_temperature",
        "warmup_teacher_fraction",
        "teacher_momentum",
        "center_momentum",
        "local_crops",
        "local_crop_size",
        "local_crop_scale",
    )
    global_crops = 2

    def __init__(
        self,
        encoder: Encoder,
        out_dim: int = 65536,
        head_hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.04,
        warmup_teacher_temperature: float = 0.04,
        warmup_teacher_fraction: float = 0.0,
        teacher_momentum: float = 0.996,
        center_momentum: float = 0.9,
        local_crops: int = 8,
        local_crop_size: int | float = 96 / 224,
        local_crop_scale: Sequence[float] = (0.05, 0.4),
    ):
        super().__init__(encoder)
        for name, value in (("out_dim", out_dim), ("head_hidden_dim", head_hidden_dim),
                            ("bottleneck_dim", bottleneck_dim)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        for name, value in (("student_temperature", student_temperature),
                            ("teacher_temperature", teacher_temperature),
                            ("warmup_teacher_temperature", warmup_teacher_temperature)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if not 0 <= warmup_teacher_fraction < 1:
            raise ValueError(f"warmup_teacher_fraction must be in [0, 1), got {warmup_teacher_fraction}")
        if not 0 <= teacher_momentum <= 1:
            raise ValueError(f"teacher_momentum must be in [0, 1] (0.996 in the paper), got {teacher_momentum}")
        if not 0 <= center_momentum < 1:
            raise ValueError(f"center_momentum must be in [0, 1) (0.9 in the paper), got {center_momentum}")
        if int(local_crops) != local_crops or local_crops < 0:
            raise ValueError(f"local_crops must be a non-negative integer, got {local_crops}")
        local_crop_size = resolve_local_crop_size(local_crop_size, encoder)
        local_crop_scale = tuple(float(v) for v in local_crop_scale)
        if len(local_crop_scale) != 2 or not 0 < local_crop_scale[0] <= local_crop_scale[1] <= 1:
            raise ValueError(f"local_crop_scale must be [low, high] with 0 < low <= high <= 1, got {local_crop_scale}")
        if encoder.is_vit:
            patch = encoder.backbone.patch_embed.patch_size[0]
            if local_crops and local_crop_size % patch:
                raise ValueError(
                    f"local_crop_size {local_crop_size} must be a multiple of the ViT patch size {patch}"
                )
            allow_any_image_size(encoder.backbone)

        self.student_temperature = float(student_temperature)
        self.teacher_temperature = float(teacher_temperature)
        self.warmup_teacher_temperature = float(warmup_teacher_temperature)
        self.warmup_teacher_fraction = float(warmup_teacher_fraction)
        self.teacher_momentum = float(teacher_momentum)
        self.center_momentum = float(center_momentum)
        self.local_crops = int(local_crops)
        self.local_crop_size = local_crop_size
        self.local_crop_scale = local_crop_scale
        self.views_per_sample = self.global_crops + self.local_crops

        self.head = DINOHead(encoder.feature_dim, int(out_dim), int(head_hidden_dim), int(bottleneck_dim))
        self.teacher = nn.ModuleDict({"encoder": copy.deepcopy(encoder), "head": copy.deepcopy(self.head)})
        self.teacher.requires_grad_(False)
        self.register_buffer("center", torch.zeros(1, int(out_dim)))
        # Position in the schedules (persisted so that a resumed run continues them exactly).
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self.register_buffer("total_steps", torch.zeros((), dtype=torch.long))
        self._batch_center: torch.Tensor | None = None

    # ----------------------------------------------------------------------------------------------- views
    def local_augment(self, augment: BatchAugment) -> BatchAugment:
        """The global augmentation family with the local crop scale, at ``local_crop_size`` pixels."""
        return BatchAugment(
            replace(augment.spec, crop_scale=self.local_crop_scale),
            self.local_crop_size,
            augment.mean.flatten().tolist(),
            augment.std.flatten().tolist(),
        )

    def make_views(self, images: torch.Tensor, generator: torch.Generator, augment) -> list[torch.Tensor]:
        """Two global crops from ``augment`` at its size, then ``local_crops`` local crops at the local size."""
        views = [augment(images, generator) for _ in range(self.global_crops)]
        if self.local_crops:
            local = self.local_augment(augment)
            views += [local(images, generator) for _ in range(self.local_crops)]
        return views

    # ----------------------------------------------------------------------------------------------- schedules
    def teacher_temperature_now(self) -> torch.Tensor:
        """τ_t at the current step (0-d tensor): linear warm-up over ``warmup_teacher_fraction`` of training
        from ``warmup_teacher_temperature``, then ``teacher_temperature``.

        Computed with tensor ops from the schedule buffers (no ``.item()``), so a compiled loss neither breaks
        its graph nor recompiles as the temperature changes.
        """
        total = self.total_steps.float()
        step = self.steps_done.float()
        warmup = torch.floor(self.warmup_teacher_fraction * total)
        progress = torch.where(warmup > 0, (step / warmup.clamp_min(1)).clamp(max=1), torch.ones_like(total))
        if self.warmup_teacher_fraction > 0:
            progress = torch.where(total > 0, progress, torch.zeros_like(total))  # before the first step: start
        return self.warmup_teacher_temperature + (self.teacher_temperature - self.warmup_teacher_temperature) * progress

    def current_teacher_temperature(self) -> float:
        """:meth:`teacher_temperature_now` as a Python float."""
        return float(self.teacher_temperature_now())

    def momentum_at(self, step: int, total_steps: int) -> float:
        """Teacher EMA momentum: cosine from ``teacher_momentum`` at step 0 to 1 at the last step."""
        progress = step / max(1, total_steps)
        return 1 - (1 - self.teacher_momentum) * (math.cos(math.pi * min(1.0, progress)) + 1) / 2

    # ----------------------------------------------------------------------------------------------- forward
    @property
    def scoring_encoder(self):
        # The DINO paper evaluates the teacher; so do our probes and SSLMem scores.
        return self.teacher["encoder"]

    def scoring_projection(self, images: torch.Tensor) -> torch.Tensor:
        return self.teacher["head"](self.teacher["encoder"](images))

    def projection(self, images: torch.Tensor) -> torch.Tensor:
        """Student head output (logits before the temperature softmax), [B, out_dim]."""
        return self.head(self.encoder(images))

    def _student_logits(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        # One forward per resolution, as the reference implementation does.
        batch = views[0].shape[0]
        groups = [views[: self.global_crops], views[self.global_crops:]]
        logits = []
        for group in groups:
            if group:
                logits += list(self.projection(torch.cat(group)).split(batch))
        return logits

    def loss_per_sample(self, views, generator):
        if len(views) < 2:
            raise ValueError(f"DINO needs {self.views_per_sample} views per sample, got {len(views)}")
        batch = views[0].shape[0]
        global_views = views[: self.global_crops]
        with torch.no_grad():
            teacher_out = self.teacher["head"](self.teacher["encoder"](torch.cat(global_views))).float()
        teacher_logits = list(teacher_out.split(batch))
        loss = dino_cross_entropy_per_sample(
            self._student_logits(views),
            teacher_logits,
            self.center,
            self.student_temperature,
            self.teacher_temperature_now(),
        )
        # Applied in after_step, i.e. once per optimiser step, after this batch's loss (as the reference).
        self._batch_center = teacher_out.mean(dim=0, keepdim=True)
        return loss

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        """EMA update of the teacher, then of the centre; advance the schedules."""
        momentum = self.momentum_at(step, total_steps)
        for student, teacher in ((self.encoder, self.teacher["encoder"]), (self.head, self.teacher["head"])):
            for s_param, t_param in zip(student.parameters(), teacher.parameters()):
                t_param.lerp_(s_param.detach(), 1 - momentum)
        if self._batch_center is not None:
            self.center.mul_(self.center_momentum).add_(self._batch_center, alpha=1 - self.center_momentum)
            self._batch_center = None
        self.steps_done.fill_(step + 1)
        self.total_steps.fill_(total_steps)


def allow_any_image_size(vit: nn.Module) -> None:
    """Let a timm VisionTransformer take images of any multiple of its patch size (for DINO's local crops).

    Switches on timm's own ``dynamic_img_size`` path, which bicubically resamples the position embedding to
    the input's patch grid; at the native size the embedding is used unchanged, so outputs there are identical.
    """
    from timm.layers import Format

    vit.dynamic_img_size = True
    vit.patch_embed.strict_img_size = False
    vit.patch_embed.flatten = False
    vit.patch_embed.output_fmt = Format.NHWC


def resolve_local_crop_size(setting: int | float, encoder: Encoder) -> int:
    """Local crop side in pixels from pixels (an int >= 1) or a fraction of the global size (a float in (0, 1)).

    Fractions are rounded to the nearest multiple of a ViT's patch size (at least one patch), to the nearest
    pixel for a ResNet. Raises ValueError for anything else.
    """
    if isinstance(setting, bool) or not isinstance(setting, (int, float)):
        raise ValueError(f"local_crop_size must be pixels (int >= 1) or a fraction in (0, 1), got {setting!r}")
    unit = encoder.backbone.patch_embed.patch_size[0] if encoder.is_vit else 1
    if isinstance(setting, float):
        if not 0 < setting < 1:
            raise ValueError(
                f"local_crop_size {setting}: a float is a fraction of the global crop size and must be in (0, 1); "
                "write pixels as an integer"
            )
        return max(unit, int(round(setting * encoder.image_size / unit)) * unit)
    if setting < 1:
        raise ValueError(f"local_crop_size must be a positive number of pixels or a fraction in (0, 1), got {setting}")
    return setting
