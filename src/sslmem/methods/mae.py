"""MAE (He et al., 2022, "Masked Autoencoders Are Scalable Vision Learners")."""

from __future__ import annotations

import torch
from torch import nn
from timm.models.vision_transformer import Block

from sslmem.methods.base import SSLMethod
from sslmem.models import Encoder


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """[B, C, H, W] → [B, N, patch_size² · C], patches in row-major order (as timm's patch embedding)."""
    batch, channels, height, width = images.shape
    rows, cols = height // patch_size, width // patch_size
    patches = images.reshape(batch, channels, rows, patch_size, cols, patch_size)
    return patches.permute(0, 2, 4, 3, 5, 1).reshape(batch, rows * cols, patch_size * patch_size * channels)


def random_masking(batch: int, num_patches: int, mask_ratio: float, generator: torch.Generator, device):
    """Indices of kept patches [B, K] and the binary mask [B, N] (1 = masked), K = N·(1 − mask_ratio)."""
    noise = torch.rand(batch, num_patches, generator=generator, device=device)
    return masking_from_noise(noise, mask_ratio)


def masking_from_noise(noise: torch.Tensor, mask_ratio: float):
    """The kept patches [B, K] and the mask [B, N] (1 = masked) of uniform noise [B, N]: the K lowest are kept.

    Out-of-place only, so that it also runs per sample under ``torch.func.vmap`` (DP-SGD's per-sample gradients).
    """
    num_keep = max(1, int(round(noise.shape[1] * (1 - mask_ratio))))
    keep = torch.argsort(noise, dim=1)[:, :num_keep]
    mask = torch.ones_like(noise).scatter(1, keep, 0.0)
    return keep, mask


class MAE(SSLMethod):
    """Masked autoencoder: encode the visible patches, reconstruct the masked ones with a light decoder.

    Args:
        encoder: a ViT backbone (timm VisionTransformer inside :class:`~sslmem.models.Encoder`).
        mask_ratio: fraction of patches masked (0.75 in the paper; Table 9 varies it).
        decoder_dim, decoder_depth, decoder_heads: size of the transformer decoder.
        norm_pix_loss: reconstruct per-patch normalised pixels (the paper's default).

    The loss of a sample is the mean squared error over its masked patches.

    >>> method = MAE(build_encoder("vit_tiny", 32, patch_size=4), mask_ratio=0.75)
    >>> loss = method.loss([view], generator)
    """

    name = "mae"
    couples_samples = False  # each sample's loss reads only its own patches: DP-SGD applies (ViP, Yu et al. 2023)
    needs_vit = True
    has_projection_head = False
    views_per_sample = 1
    recipe_keys = ("mask_ratio", "decoder_dim", "decoder_depth", "decoder_heads", "norm_pix_loss")

    def __init__(self, encoder: Encoder, mask_ratio: float = 0.75, decoder_dim: int = 128, decoder_depth: int = 2,
                 decoder_heads: int = 4, norm_pix_loss: bool = True):
        super().__init__(encoder)
        if not encoder.is_vit:
            raise ValueError(f"MAE needs a ViT backbone, got {encoder.arch!r}")
        if not 0 < mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        if decoder_dim % decoder_heads:
            raise ValueError(f"decoder_dim {decoder_dim} must be divisible by decoder_heads {decoder_heads}")
        vit = encoder.backbone
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.patch_size = vit.patch_embed.patch_size[0]
        self.num_patches = vit.patch_embed.num_patches
        self.decoder_embed = nn.Linear(vit.embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, 1 + self.num_patches, decoder_dim))
        self.decoder_blocks = nn.Sequential(
            *[Block(decoder_dim, decoder_heads, mlp_ratio=4.0, qkv_bias=True) for _ in range(decoder_depth)]
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.decoder_pred = nn.Linear(decoder_dim, self.patch_size**2 * 3)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.decoder_pos_embed, std=0.02)

    def encode_visible(self, images: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Run the ViT on the CLS token and the kept patches only: [B, 1 + K, D]."""
        vit = self.encoder.backbone
        tokens = vit.patch_embed(images) + vit.pos_embed[:, vit.num_prefix_tokens:]
        tokens = torch.gather(tokens, 1, keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        cls = (vit.cls_token + vit.pos_embed[:, :1]).expand(tokens.shape[0], -1, -1)
        tokens = vit.norm_pre(torch.cat([cls, tokens], dim=1))
        return vit.norm(vit.blocks(tokens))

    def decode(self, latent: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Predict the pixels of every patch: [B, N, p²·3]."""
        batch = latent.shape[0]
        visible = self.decoder_embed(latent)
        patches = self.mask_token.to(visible.dtype).expand(batch, self.num_patches, -1).clone()
        patches = patches.scatter(1, keep.unsqueeze(-1).expand(-1, -1, visible.shape[-1]), visible[:, 1:])
        tokens = torch.cat([visible[:, :1], patches], dim=1) + self.decoder_pos_embed
        tokens = self.decoder_norm(self.decoder_blocks(tokens))
        return self.decoder_pred(tokens[:, 1:])

    def draw_randomness(self, views, generator):
        # Each sample its own mask (ViP's DP-MAE too): the uniform noise whose lowest entries pick the kept patches.
        images = views[0]
        return torch.rand(images.shape[0], self.num_patches, generator=generator, device=images.device)

    def forward(self, views, noise):
        """Per-sample loss [B] given the masking noise [B, N] (see :meth:`SSLMethod.forward`)."""
        images = views[0]
        keep, mask = masking_from_noise(noise, self.mask_ratio)
        prediction = self.decode(self.encode_visible(images, keep), keep)
        target = patchify(images, self.patch_size)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        per_patch = ((prediction.float() - target.float()) ** 2).mean(dim=-1)
        return (per_patch * mask).sum(dim=1) / mask.sum(dim=1)

    def projection(self, images: torch.Tensor) -> torch.Tensor:
        # MAE has no projection head; its encoder output is what downstream tasks read.
        return self.encoder.representation(images)
