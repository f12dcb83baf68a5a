"""Backbones by name (timm), and what each exposes for scoring, probing and localisation.

Every backbone is wrapped in :class:`Encoder`, which gives three views of one forward pass:

- ``pooled(x)``: the vector a linear probe reads (ResNet: global average pool; ViT: the CLS token);
- ``representation(x)``: the *full* representation SSLMem is measured on (App. A, "Measuring Memorization"):
  ResNet: the last feature map flattened (e.g. 2048×7×7 for ResNet50 at 224px); ViT: every token after the
  final norm, concatenated (257×192 for ViT-tiny with patch 2 on 32px);
- ``named_layers()``: the modules whose outputs LayerMem/UnitMem read through forward hooks;
- ``named_parts()`` (ViT): each block's attention and MLP residual branches, read separately (localization study).
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


def _conv_block(in_channels: int, out_channels: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
              nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))


class ResNet9(nn.Module):
    """The localization paper's ResNet9 (its authors' public SimCLR code; Page's DAWNBench net with a pooled prep
    layer): 8 conv-BN-ReLU layers of width w, 2w, 2w, 2w, 4w, 8w, 8w, 8w (w = 32 there), a max-pool after conv1,
    conv2, conv3 and conv4, and two residual pairs (conv2 + conv2_2(conv2_1(conv2)), likewise conv4). Named by
    stage: conv4_2 is the last convolution (the authors' ``layer3_residual2``, the layer their UnitMem reads for
    Fig. 1a). Each named layer's output is post-ReLU (non-negative: UnitMem's ratio is defined), taken before the
    residual addition, as the authors' intermediate-layer getter reads it."""

    LAYERS = ("conv1", "conv2", "conv2_1", "conv2_2", "conv3", "conv4", "conv4_1", "conv4_2")

    def __init__(self, width: int = 32):
        super().__init__()
        channels = (width, 2 * width, 2 * width, 2 * width, 4 * width, 8 * width, 8 * width, 8 * width)
        inputs = (3, *channels[:-1])
        pooled = {"conv1", "conv2", "conv3", "conv4"}
        for name, cin, cout in zip(self.LAYERS, inputs, channels):
            self.add_module(name, _conv_block(cin, cout, name in pooled))
        self.num_features = channels[-1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(x))
        x = x + self.conv2_2(self.conv2_1(x))
        x = self.conv4(self.conv3(x))
        return x + self.conv4_2(self.conv4_1(x))

    def named_layers(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in self.LAYERS}


def _build_resnet9(image_size: int, width: int = 32, **_) -> nn.Module:
    if image_size < 16:
        raise ValueError(f"resnet9 pools four times: images of {image_size} px are too small (at least 16)")
    return ResNet9(width)


ARCHS: dict[str, ArchSpec] = {
    "resnet18": ArchSpec("resnet18", False, lambda **kw: _build_resnet("resnet18", **kw), {"width": 64}),
    "resnet50": ArchSpec("resnet50", False, lambda **kw: _build_resnet("resnet50", **kw), {"width": 64}),
    "wide_resnet50_2": ArchSpec(
        "wide_resnet50_2", False, lambda **kw: _build_resnet("wide_resnet50_2", **kw), {"width": 64}
    ),
    "resnet9": ArchSpec("resnet9", False, _build_resnet9, {"width": 32}),
    "vit_tiny": ArchSpec("vit_tiny", True, _build_vit, {"embed_dim": 192, "depth": 12, "heads": 3}),
    "vit_base": ArchSpec("vit_base", True, _build_vit, {"embed_dim": 768, "depth": 12, "heads": 12}),
}


# How a unit's activation is read before its per-point mean (Encoder.part_units): as it is, or its positive part.
PART_UNIT_READINGS = ("raw", "positive")


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
        if hasattr(self.backbone, "named_layers"):  # a backbone of our own (ResNet9) names its layers itself
            return self.backbone.named_layers()
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

    def named_parts(self) -> dict[str, nn.Module]:
        """ViT: each block's two residual branches, in forward order: ``block<i>.attn`` (its output is
        attn(norm1(x)), what the block adds to x) and ``block<i>.mlp`` (mlp(norm2(x + attn(...)))). Layer scale and
        stochastic depth must be identities (timm's default), else a branch's output would not be what is added."""
        if not self.is_vit:
            raise ValueError(f"named_parts: {self.arch} is not a ViT (its blocks have no attention/MLP branches)")
        parts = {}
        for i, block in enumerate(self.backbone.blocks):
            for wrapper in ("ls1", "ls2", "drop_path1", "drop_path2"):
                if not isinstance(getattr(block, wrapper), nn.Identity):
                    raise ValueError(f"named_parts: block{i}.{wrapper} is not an identity; the branch output "
                                     "hooked would differ from what the block adds")
            parts[f"block{i}.attn"] = block.attn
            parts[f"block{i}.mlp"] = block.mlp
        return parts

    def part_units(self) -> dict[str, tuple[nn.Module, str]]:
        """ViT: the units UnitMem reads per block, name → (module, reading), reading one of
        :data:`PART_UNIT_READINGS`: the attention and MLP branch outputs' channels (``positive``: max(0, ·), as a
        branch output is signed), the MLP's hidden units as the positive part of fc1's pre-activation
        (``block<i>.mlp.fc1``; ReLU-like: GELU(z) − max(0, z) is within [−0.17, 0]) and, as the core reads them,
        their GELU outputs (``block<i>.mlp.act``, ``raw``: units negative on average get no UnitMem)."""
        units = {}
        for name, module in self.named_parts().items():
            units[name] = (module, "positive")
            if name.endswith(".mlp"):
                units[f"{name}.fc1"] = (module.fc1, "positive")
                units[f"{name}.act"] = (module.act, "raw")
        return units

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
