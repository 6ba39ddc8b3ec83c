"""The Inception v3 network FID is defined on, for the `evaluate` kind's `fid`.

FID's published figures come from TensorFlow's 2015-12-05 Inception graph; its
PyTorch port (pytorch-fid's and torch-fidelity's `pt_inception-2015-12-05`
weights, the network torchmetrics' FrechetInceptionDistance uses by default)
differs from torchvision's Inception v3 in its pooling, resizing and scaling. Both
maintained ports import torchvision, whose wheels are built against CUDA torch and
do not load beside a CPU build, and both read their weights with pickle, which
genq never does (worker/weights.py). So the same network is stated here with
the same parameter names, and its weights load from a safetensors file
(GENQ_FID_INCEPTION_WEIGHTS). tests/worker/test_inception.py checks that it gives
torch-fidelity's features for the same weights.

Input: RGB images of any size, resized to 299x299 as TensorFlow 1 resized them
(bilinear, no half-pixel offset) and scaled to [-1, 1]. Output: the 2048 pooled
features of each image.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from worker.failures import JobFailure

INPUT_SIZE = 299
FEATURES = 2048
# Images through the network at once.
BATCH = 8
MIXED_BLOCKS = tuple(f"Mixed_{name}" for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"))


class BasicConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, **conv: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _average_pool(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pooling leaves the padding out of the mean.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_average_pool(x)),
            ],
            1,
        )


class InceptionB(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, kernel_size=3, stride=2),
            ],
            1,
        )


class InceptionC(nn.Module):
    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch7x7dbl_3(self.branch7x7dbl_2(self.branch7x7dbl_1(x)))
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
                self.branch7x7dbl_5(self.branch7x7dbl_4(double)),
                self.branch_pool(_average_pool(x)),
            ],
            1,
        )


class InceptionD(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x)))
        return torch.cat(
            [
                self.branch3x3_2(self.branch3x3_1(x)),
                self.branch7x7x3_4(seven),
                F.max_pool2d(x, kernel_size=3, stride=2),
            ],
            1,
        )


class InceptionE(nn.Module):
    """The last two blocks; they differ only in their pooling branch (average in
    the first, max in the second, as in TensorFlow's graph)."""

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _average_pool(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(single),
                self.branch3x3_2b(single),
                self.branch3x3dbl_3a(double),
                self.branch3x3dbl_3b(double),
                self.branch_pool(pooled),
            ],
            1,
        )


class FidInception(nn.Module):
    num_features = FEATURES  # read by torchmetrics instead of a dummy image

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """The features of N x 3 x 299 x 299 pixels in [-1, 1]."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(pixels)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in MIXED_BLOCKS:
            x = getattr(self, name)(x)
        features: torch.Tensor = x.mean(dim=(2, 3))
        return features

    def features(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The 2048 features of each image (float32, on the CPU)."""
        parameter = next(self.parameters())
        found = []
        for start in range(0, len(images), BATCH):
            pixels = torch.cat(
                [_network_input(image, parameter.device, parameter.dtype) for image in images[start : start + BATCH]]
            )
            with torch.inference_mode():
                found.append(self(pixels).float().cpu())
        return torch.cat(found)


def _network_input(image: Image.Image, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    rgb = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)[None]
    resized = resized_like_tensorflow1(rgb.to(device, dtype), INPUT_SIZE)
    return (resized - 128) / 128


def resized_like_tensorflow1(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """N x C x H x W pixels resized to size x size as TensorFlow 1's resize_bilinear
    did (align_corners=False, no half-pixel centres): output pixel i samples the input at
    i * in/out, which torch's interpolate has no mode for."""

    def axis(length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        position = torch.arange(size, device=pixels.device, dtype=torch.float32) * (length / size)
        low = position.floor().long().clamp(max=length - 1)
        high = (low + 1).clamp(max=length - 1)
        return low, high, (position - low).to(pixels.dtype)

    top, bottom, down = axis(pixels.shape[2])
    left, right, across = axis(pixels.shape[3])
    rows = pixels[:, :, top] + (pixels[:, :, bottom] - pixels[:, :, top]) * down[:, None]
    return rows[..., left] + (rows[..., right] - rows[..., left]) * across


def load_fid_inception(path: Path, device: torch.device) -> FidInception:
    """The network with the weights in `path` (safetensors; a classifier head, `fc.*`,
    is ignored), in float32 (FID's statistics are sensitive to half precision)."""
    try:
        weights = safetensors.torch.load_file(str(path))
    except (OSError, safetensors.SafetensorError) as error:
        raise JobFailure("model_load_failed", f"GENQ_FID_INCEPTION_WEIGHTS {str(path)!r}: {error}") from error
    network = FidInception()
    try:
        network.load_state_dict({name: value for name, value in weights.items() if not name.startswith("fc.")})
    except RuntimeError as error:  # missing, unexpected or misshapen weights
        raise JobFailure(
            "model_load_failed", f"GENQ_FID_INCEPTION_WEIGHTS {str(path)!r} is not FID's Inception v3: {error}"
        ) from error
    return network.to(device, torch.float32).eval().requires_grad_(False)


def build_random_fid_inception(path: str | Path, seed: int = 0) -> Path:
    """Write the network with random weights to `path` (safetensors), for tests and
    the first run: the published architecture and cost, features of no meaning. Its
    batch-norm statistics are measured on random images, so features keep a usable scale."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    network = FidInception()
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None  # a cumulative average over the calibration pass
    network.train()
    with torch.no_grad():
        network(torch.rand(4, 3, INPUT_SIZE, INPUT_SIZE, generator=generator) * 2 - 1)
    safetensors.torch.save_file({name: value.contiguous() for name, value in network.state_dict().items()}, str(path))
    return path
