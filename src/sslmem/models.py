"""Backbones by name (timm), and what each exposes for scoring, probing and localisation.

Every backbone is wrapped in :class:`Encoder`, which gives three views of one forward pass:

- ``pooled(x)``: the vector a linear probe reads (ResNet: global average pool; ViT: the CLS token);
- ``representation(x)``: the *full* representation SSLMem is measured on (App. A, "Measuring Memorization"):
  ResNet: the last feature map flattened (e.g. 2048×7×7 for ResNet50 at 224px); ViT: every token after the
  final norm, concatenated (257×192 for ViT-tiny with patch 2 on 32px);
- ``named_layers()``: the modules whose outputs LayerMem/UnitMem read through forward hooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import timm
import torch
from torch import nn


@dataclass(frozen=True)
class ArchSpec:
    """A registry entry: how to build a backbone and which family it is."""

    name: str
    is_vit: bool
    build: Callable[..., nn.Module]
    defaults: Mapping


def _build_resnet(timm_name: str, image_size: int, width: int = 64, cifar_stem: bool | None = None, **_) -> nn.Module:
    """A timm ResNet whose stages have width, 2·width, 4·width, 8·width channels (64 = the standard net)."""
    channels = tuple(width * m for m in (1, 2, 4, 8))
    if cifar_stem is None:
        cifar_stem = image_size <= 64
    options = dict(pretrained=False, num_classes=0, channels=channels)
    if width != 64 or cifar_stem:
        # timm fixes the stem's output at 64 channels unless the stem is "deep" (then 2·stem_width); the deep
        # stem lets the stem follow `width`, and the CIFAR variant replaces it anyway.
        if width % 2:
            raise ValueError(f"resnet width must be even, got {width}")
        options.update(stem_type="deep", stem_width=width // 2)
    model = timm.create_model(timm_name, **options)
    if cifar_stem:
        # Small images: one 3x3 stride-1 stem conv and no max-pool keep spatial resolution (SimCLR's CIFAR variant).
        model.conv1 = nn.Conv2d(3, model.bn1.num_features, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    return model


def _build_vit(image_size: int, patch_size: int = 16, embed_dim: int = 192, depth: int = 12, heads: int = 3, **_):
    from timm.models.vision_transformer import VisionTransformer

    if image_size % patch_size:
        raise ValueError(f"patch_size {patch_size} does not divide image size {image_size}")
    return VisionTransformer(
        img_size=image_size,
        patch_size=patch_size,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=heads,
        num_classes=0,
        global_pool="token",
    )


ARCHS: dict[str, ArchSpec] = {
    "resnet18": ArchSpec("resnet18", False, lambda **kw: _build_resnet("resnet18", **kw), {"width": 64}),
    "resnet50": ArchSpec("resnet50", False, lambda **kw: _build_resnet("resnet50", **kw), {"width": 64}),
    "wide_resnet50_2": ArchSpec(
        "wide_resnet50_2", False, lambda **kw: _build_resnet("wide_resnet50_2", **kw), {"width": 64}
    ),
    "vit_tiny": ArchSpec("vit_tiny", True, _build_vit, {"embed_dim": 192, "depth": 12, "heads": 3}),
    "vit_base": ArchSpec("vit_base", True, _build_vit, {"embed_dim": 768, "depth": 12, "heads": 12}),
}


class Encoder(nn.Module):
    """A backbone with the pooled, full-representation and per-layer views SSLMem needs.

    >>> encoder = build_encoder("resnet18", image_size=32, width=16)
    >>> encoder.representation(images).shape      # [B, 128 * 4 * 4]
    """

    def __init__(self, arch: str, backbone: nn.Module, image_size: int):
        super().__init__()
        self.arch = arch
        self.is_vit = ARCHS[arch].is_vit
        self.backbone = backbone
        self.image_size = image_size
        self.feature_dim = backbone.num_features

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """ResNet: [B, C, h, w] last feature map; ViT: [B, 1 + N, D] tokens after the final norm."""
        return self.backbone.forward_features(images)

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        return features[:, 0] if self.is_vit else features.mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pool(self.forward_features(images))

    def representation(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_features(images).flatten(1)

    def named_layers(self) -> dict[str, nn.Module]:
        """Modules whose outputs LayerMem reads, in forward order."""
        if self.is_vit:
            return {f"block{i}": block for i, block in enumerate(self.backbone.blocks)}
        layers = {}
        for stage in ("layer1", "layer2", "layer3", "layer4"):
            for i, block in enumerate(getattr(self.backbone, stage)):
                layers[f"{stage}.{i}"] = block
        return layers

    def named_units(self) -> dict[str, nn.Module]:
        """Modules whose output channels are the units UnitMem reads, in forward order: a ResNet's block
        outputs (after their ReLU), a ViT's MLP activations (GELU; the localization paper finds ViT
        memorisation in these fully connected layers)."""
        if self.is_vit:
            return {f"block{i}.mlp": block.mlp.act for i, block in enumerate(self.backbone.blocks)}
        return self.named_layers()

    def representation_shape(self) -> tuple[int, ...]:
        with torch.no_grad():
            was_training = self.training
            self.eval()
            probe = torch.zeros(1, 3, self.image_size, self.image_size, device=next(self.parameters()).device)
            shape = tuple(self.forward_features(probe).shape[1:])
            self.train(was_training)
        return shape


def build_encoder(arch: str, image_size: int, **arch_cfg) -> Encoder:
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; known: {sorted(ARCHS)}")
    spec = ARCHS[arch]
    options = {**spec.defaults, **arch_cfg}
    return Encoder(arch, spec.build(image_size=image_size, **options), image_size)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
