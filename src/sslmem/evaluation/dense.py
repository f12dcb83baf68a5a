"""Dense fine-tuning models and metrics (the dense study, SSLMem Tables 3 and 10).

- :class:`Pyramid`: one of our encoders (:class:`sslmem.models.Encoder`) as a four-level multi-scale backbone,
  through timm's ``forward_intermediates``. ResNet: the outputs of its four stages. ViT: the tokens of four
  evenly spaced blocks (depth 12: blocks 3, 6, 9, 12, counted from 1, as BEiT/MAE's UperNet takes them) reshaped
  to maps on the patch grid and resized to a pyramid of 4×, 2×, 1× and ½× the grid, as UperNet-on-ViT does (there
  with learned deconvolutions; here bilinear resizing and max-pooling, so the decoder is the only new module).
- :class:`DenseModel`: the backbone, segmentation-models-pytorch's ``UPerNetDecoder`` (Xiao et al. 2018, the
  paper's decoder for ADE20K) and a 3×3 convolution to the classes (segmentation) or to one channel (depth, in
  metres through a softplus), upsampled to the input size. The paper's depth model is a UNet; we use the same
  UPerNet decoder for both tasks (one decoder, one recipe) and say so in the docs.
- Metrics: mIoU and pixel accuracy from torchmetrics (``MulticlassJaccardIndex``, ``MulticlassAccuracy`` with
  ``ignore_index``), RMSE from torchmetrics (``MeanSquaredError(squared=False)``), and the threshold accuracy
  δ < 1.25 written here (torchmetrics 1.9 has no depth-threshold metric). :func:`miou_from_confusion` is the
  hand formula the tests check torchmetrics against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslmem.models import Encoder

PYRAMID_LEVELS = 4
VIT_SCALES = (4.0, 2.0, 1.0, 0.5)
DELTA_THRESHOLD = 1.25


def vit_block_indices(depth: int) -> list[int]:
    """Four evenly spaced blocks, the last one included (0-based): depth 12 → [2, 5, 8, 11]; depth 2 → [0, 0, 1, 1]
    would repeat, so a shallow ViT repeats its blocks in order (indices may repeat)."""
    return [max(0, round(depth * (level + 1) / PYRAMID_LEVELS) - 1) for level in range(PYRAMID_LEVELS)]


class Pyramid(nn.Module):
    """An encoder's multi-scale feature maps, highest resolution first (`channels`: their channel counts)."""

    def __init__(self, encoder: Encoder):
        super().__init__()
        self.encoder = encoder
        backbone = encoder.backbone
        if encoder.is_vit:
            self.blocks = vit_block_indices(len(backbone.blocks))
            self.channels = [backbone.embed_dim] * PYRAMID_LEVELS
        else:
            self.blocks = [1, 2, 3, 4]  # timm ResNet intermediates: 0 = stem, 1-4 = layer1-layer4
            self.channels = [info["num_chs"] for info in backbone.feature_info[1:]]

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        backbone = self.encoder.backbone
        if not self.encoder.is_vit:
            return backbone.forward_intermediates(images, indices=self.blocks, intermediates_only=True)
        unique = sorted(set(self.blocks))
        maps = dict(zip(unique, backbone.forward_intermediates(images, indices=unique, intermediates_only=True)))
        pyramid = []
        for block, scale in zip(self.blocks, VIT_SCALES):
            grid = maps[block]
            if scale > 1:
                grid = F.interpolate(grid, scale_factor=scale, mode="bilinear", align_corners=False)
            elif scale < 1:
                grid = F.max_pool2d(grid, kernel_size=2, ceil_mode=True)
            pyramid.append(grid)
        return pyramid

    def shapes(self, image_size: int) -> list[tuple[int, int, int]]:
        """(channels, height, width) of each level for a square input of `image_size` px."""
        with torch.no_grad():
            was_training = self.training
            self.eval()
            device = next(self.parameters()).device
            maps = self(torch.zeros(1, 3, image_size, image_size, device=device))
            self.train(was_training)
        return [tuple(feature.shape[1:]) for feature in maps]


class DenseModel(nn.Module):
    """Backbone + UPerNet decoder + a per-pixel head: logits [B, classes, H, W], or depth [B, H, W] in metres."""

    def __init__(self, encoder: Encoder, out_channels: int, decoder_channels: int = 64):
        from segmentation_models_pytorch.base.heads import SegmentationHead
        from segmentation_models_pytorch.decoders.upernet.decoder import UPerNetDecoder

        super().__init__()
        self.pyramid = Pyramid(encoder)
        # smp's decoder reads features [1, 1/2, 1/4, 1/8, 1/16, 1/32] and skips the first two: ours are its last four.
        self.decoder = UPerNetDecoder([0, 0, *self.pyramid.channels], encoder_depth=PYRAMID_LEVELS + 1,
                                      decoder_channels=decoder_channels)
        self.head = SegmentationHead(decoder_channels, out_channels, kernel_size=3)
        self.depth = out_channels == 1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.pyramid(images)
        out = self.head(self.decoder([images, images, *features]))
        out = F.interpolate(out, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return F.softplus(out[:, 0]) if self.depth else out


# --- metrics ------------------------------------------------------------------------------------------------


def confusion_matrix(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """[true, predicted] counts over the pixels whose target is not `ignore_index`."""
    keep = targets != ignore_index
    index = targets[keep].long() * num_classes + predictions[keep].long()
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def miou_from_confusion(confusion: torch.Tensor) -> float:
    """Mean over the classes present (in the targets or the predictions) of TP / (TP + FP + FN)."""
    confusion = confusion.double()
    true_positive = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    present = union > 0
    return float((true_positive[present] / union[present]).mean())


def segmentation_metrics(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int, ignore_index: int) -> dict:
    """mIoU (macro over classes, as the ADE20K benchmark; classes absent from both targets and predictions are
    left out) and pixel accuracy (micro) with torchmetrics, over all pixels of the set at once."""
    from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

    options = {"num_classes": num_classes, "ignore_index": ignore_index}
    # zero_division=nan + nanmean: a class that is in neither targets nor predictions does not count as IoU 0.
    jaccard = MulticlassJaccardIndex(average="none", zero_division=float("nan"), **options)
    per_class = jaccard(predictions, targets)
    accuracy = MulticlassAccuracy(average="micro", **options)(predictions, targets)
    return {"miou": float(per_class.nanmean()), "pixel_accuracy": float(accuracy)}


def threshold_accuracy(predictions: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
                       threshold: float = DELTA_THRESHOLD) -> float:
    """δ < threshold: the fraction of valid pixels with max(pred / true, true / pred) below it (Eigen et al. 2014);
    hand-written, as torchmetrics has no such metric."""
    prediction, truth = predictions[valid].double().clamp_min(1e-6), targets[valid].double()
    ratio = torch.maximum(prediction / truth, truth / prediction)
    return float((ratio < threshold).double().mean())


def depth_metrics(predictions: torch.Tensor, targets: torch.Tensor) -> dict:
    """RMSE in metres (paper Eq. 4; torchmetrics) and δ < 1.25, over the pixels with a known depth (> 0)."""
    from torchmetrics.regression import MeanSquaredError

    valid = targets > 0
    rmse = MeanSquaredError(squared=False)(predictions[valid].double(), targets[valid].double())
    return {"rmse": float(rmse), "delta1": threshold_accuracy(predictions, targets, valid)}
