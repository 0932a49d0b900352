"""Students and teachers, built by name: the DD-standard ConvNet and a small-image ResNet-18.

ConvNet-D (Gidaris & Komodakis 2018, as used by DC/DM/MTT): D x [conv3x3 width -> norm -> ReLU -> avgpool 2], then
a linear head. 28 px grey input uses padding 3 in the first conv so feature maps are 32 px (DC's ``get_network``).
Instance norm is GroupNorm with one group per channel, as in the DC code.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch.nn as nn
import torch.nn.functional as F

from .errors import DDLibError, check_choice

NORMS = ("instancenorm", "batchnorm", "none")


def _norm(kind: str, ch: int) -> nn.Module:
    return {"instancenorm": lambda: nn.GroupNorm(ch, ch, affine=True),
            "batchnorm": lambda: nn.BatchNorm2d(ch),
            "none": nn.Identity}[kind]()


@dataclass(frozen=True)
class ModelSpec:
    """An architecture by name: ``convnet3-w128-instancenorm`` or ``resnet18-instancenorm``."""
    arch: str = "convnet"
    depth: int = 3
    width: int = 128
    norm: str = "instancenorm"

    @property
    def name(self) -> str:
        if self.arch == "resnet18":
            return f"resnet18-{self.norm}"
        return f"convnet{self.depth}-w{self.width}-{self.norm}"

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        m = re.fullmatch(r"convnet(\d+)(?:-w(\d+))?(?:-(\w+))?", text)
        if m:
            spec = cls("convnet", int(m[1]), int(m[2] or 128), m[3] or "instancenorm")
        elif (m := re.fullmatch(r"resnet18(?:-(\w+))?", text)):
            spec = cls("resnet18", 18, 64, m[1] or "batchnorm")
        else:
            raise DDLibError(f"unknown model {text!r}; valid: convnet<D>[-w<width>][-<norm>] (e.g. "
                             f"convnet3-w128-instancenorm), resnet18[-<norm>]; norms: {', '.join(NORMS)}")
        check_choice("norm", spec.norm, NORMS)
        if spec.depth < 1 or spec.width < 1:
            raise DDLibError(f"model {text!r}: depth and width must be positive")
        return spec


class ConvNet(nn.Module):
    def __init__(self, in_ch: int, num_classes: int, img_size: int, width=128, depth=3, norm="instancenorm"):
        super().__init__()
        layers, ch, size = [], in_ch, img_size
        for i in range(depth):
            pad = 3 if (i == 0 and img_size == 28) else 1
            layers += [nn.Conv2d(ch, width, 3, padding=pad), _norm(norm, width), nn.ReLU(inplace=True)]
            size = size + 2 * pad - 2
            if size >= 2:
                layers.append(nn.AvgPool2d(2))
                size //= 2
            ch = width
        self.features = nn.Sequential(*layers)
        self.embed_dim = width * size * size
        self.classifier = nn.Linear(self.embed_dim, num_classes)

    def embed(self, x):
        """Penultimate features (for herding, k-center and feature matching)."""
        return self.features(x).flatten(1)

    def forward(self, x):
        return self.classifier(self.embed(x))


class _Block(nn.Module):
    def __init__(self, cin, cout, stride, norm):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.n1 = _norm(norm, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.n2 = _norm(norm, cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _norm(norm, cout))

    def forward(self, x):
        out = F.relu(self.n1(self.c1(x)))
        return F.relu(self.n2(self.c2(out)) + self.short(x))


class ResNet18(nn.Module):
    """ResNet-18 with the small-image stem (3x3 conv, no max-pool), as in the DC/MTT codebases."""

    def __init__(self, in_ch: int, num_classes: int, norm="batchnorm"):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_ch, 64, 3, 1, 1, bias=False), _norm(norm, 64), nn.ReLU(inplace=True))
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [_Block(cin, cout, stride, norm), _Block(cout, cout, 1, norm)]
            cin = cout
        self.layers = nn.Sequential(*blocks)
        self.embed_dim = 512
        self.classifier = nn.Linear(512, num_classes)

    def embed(self, x):
        return F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1)

    def forward(self, x):
        return self.classifier(self.embed(x))


def build(spec: ModelSpec | str, shape: tuple, num_classes: int) -> nn.Module:
    """Build ``spec`` for images of ``shape`` = (channels, height, width)."""
    spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
    if spec.arch == "resnet18":
        return ResNet18(shape[0], num_classes, spec.norm)
    return ConvNet(shape[0], num_classes, shape[1], spec.width, spec.depth, spec.norm)
