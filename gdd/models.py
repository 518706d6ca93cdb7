"""The model zoo of the distillation literature, for 32 x 32 inputs with 1 or 3 channels.

Every model is a sequence of named stages followed by a classifier head, so any stage's
output can be read by name (``model.forward_with(x, "block2")``), as the local loss needs.
Norm names: ``instance`` (GroupNorm with one group per channel, affine; the DC/DSA/DM
default), ``batch`` and ``none``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_norm(norm: str, channels: int) -> nn.Module:
    if norm == "instance":
        return nn.GroupNorm(channels, channels, affine=True)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}; valid: instance, batch, none")


class StagedNet(nn.Module):
    """Named stages (an ordered ModuleDict) then a flatten + linear head."""

    def __init__(self, stages: dict[str, nn.Module], head: nn.Module):
        super().__init__()
        self.stages = nn.ModuleDict(stages)
        self.head = head

    @property
    def stage_names(self) -> list[str]:
        return list(self.stages)

    def forward_with(self, x: torch.Tensor, layer: str | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B x classes) and the output of stage ``layer`` (B x C' x H' x W')."""
        if layer is not None and layer not in self.stages:
            raise KeyError(f"{type(self).__name__} has no stage {layer!r}; stages: {self.stage_names}")
        feature = None
        for name, stage in self.stages.items():
            x = stage(x)
            if name == layer:
                feature = x
        return self.head(torch.flatten(x, 1)), feature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with(x, None)[0]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The head's input, B x D (ConvNet-3: D = width * 4 * 4): the embedding DM matches
        and coresets select in (``ConvNet.embed`` in the DC/DSA/DM code)."""
        for stage in self.stages.values():
            x = stage(x)
        return torch.flatten(x, 1)


def conv_block(cin: int, cout: int, norm: str, pool: str | None = "avg") -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 3, padding=1), make_norm(norm, cout), nn.ReLU(inplace=True)]
    if pool == "avg":
        layers.append(nn.AvgPool2d(2))
    elif pool == "max":
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class ConvNet(StagedNet):
    """ConvNet-D: D blocks of [conv3x3(width) -> norm -> ReLU -> avgpool 2], linear head."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 128, depth: int = 3,
                 norm: str = "instance"):
        stages = {f"block{i + 1}": conv_block(in_channels if i == 0 else width, width, norm)
                  for i in range(depth)}
        side = 32 // 2 ** depth
        super().__init__(stages, nn.Linear(width * side * side, num_classes))


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection. Downsampling by ``stride`` either in the
    convolutions (``avgpool=False``: conv1 and the 1x1 shortcut conv have stride 2) or, as in
    DC's ``BasicBlock_AP`` and DiM's ``resnet_ap``, by stride-1 convolutions followed by a 2x2
    average pool (after conv1's norm and ReLU; in the shortcut between its 1x1 conv and norm)."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str, avgpool: bool = False):
        super().__init__()
        conv_stride = 1 if avgpool else stride
        self.conv1 = nn.Conv2d(cin, cout, 3, conv_stride, 1, bias=False)
        self.norm1 = make_norm(norm, cout)
        self.pool = nn.AvgPool2d(stride) if avgpool and stride != 1 else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = make_norm(norm, cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, conv_stride, bias=False),
                                          *([nn.AvgPool2d(stride)] if avgpool and stride != 1 else []),
                                          make_norm(norm, cout))

    def forward(self, x):
        out = self.pool(F.relu(self.norm1(self.conv1(x))))
        return F.relu(self.norm2(self.conv2(out)) + self.shortcut(x))


class ResNet(StagedNet):
    """CIFAR-style ResNet: stem conv3x3, four stages of BasicBlocks (strides 1, 2, 2, 2),
    global average pool, linear. ``blocks`` per stage: (1,1,1,1) ResNet-10, (2,2,2,2) ResNet-18;
    ``width`` 64 gives channels 64-128-256-512 (DiM's narrow variant uses 32).
    ``avgpool``: downsample with stride-1 convs + 2x2 average pooling (the ``_ap`` models):
    the same parameters and stage shapes, but conv1 and the shortcut conv of every downsampling
    block run at the input resolution (multiply-adds x1.74 for ResNet-10, x1.34 for ResNet-18).

    DiM's pool (``pool_match.py: define_model``) builds its CIFAR ResNets and ResNet-APs with
    width 32 (channels 32-64-128-256; ``pool_width=32`` here) and its default norm, batch norm;
    here the ResNets default to instance norm, as the DC/DSA/DM evaluation models do. Like DiM's
    ResNet-AP (and unlike DC's ``ResNet_AP``, whose classifier reads the flattened 512 x 4 x 4
    map) the head is a global average pool and a linear layer. DiM initialises convolutions
    with N(0, 2 / (k^2 C_out)); here PyTorch's default initialisation is kept. For MNIST and
    Fashion-MNIST DiM's ``define_model`` selects its ImageNet layout (width 64, 7x7 stem and a
    4x4 pool on 28 x 28 inputs; its ResNet-AP then pools a 1 x 1 map in stage 4 and fails);
    here every dataset uses the CIFAR layout on 32 x 32 inputs."""

    def __init__(self, in_channels: int, num_classes: int, blocks=(2, 2, 2, 2), width: int = 64,
                 norm: str = "instance", avgpool: bool = False):
        widths = [width * 2 ** i for i in range(4)]
        stages = {"stem": nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                        make_norm(norm, width), nn.ReLU(inplace=True))}
        cin = width
        for i, (n, w) in enumerate(zip(blocks, widths)):
            stride = 1 if i == 0 else 2
            stages[f"stage{i + 1}"] = nn.Sequential(
                *[BasicBlock(cin if j == 0 else w, w, stride if j == 0 else 1, norm, avgpool) for j in range(n)])
            cin = w
        stages["pool"] = nn.AdaptiveAvgPool2d(1)
        super().__init__(stages, nn.Linear(widths[-1], num_classes))


class AlexNet(StagedNet):
    """The 32 x 32 AlexNet of the DC benchmark (no normalisation)."""

    def __init__(self, in_channels: int, num_classes: int):
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        stages = {
            "block1": nn.Sequential(nn.Conv2d(in_channels, 128, 5, padding=2), relu(), nn.MaxPool2d(2)),
            "block2": nn.Sequential(nn.Conv2d(128, 192, 5, padding=2), relu(), nn.MaxPool2d(2)),
            "block3": nn.Sequential(nn.Conv2d(192, 256, 3, padding=1), relu(),
                                    nn.Conv2d(256, 192, 3, padding=1), relu(),
                                    nn.Conv2d(192, 192, 3, padding=1), relu(), nn.MaxPool2d(2)),
        }
        super().__init__(stages, nn.Linear(192 * 4 * 4, num_classes))


class VGG11(StagedNet):
    """VGG-11 (cfg 64,M,128,M,256,256,M,512,512,M,512,512,M) with a norm after every conv."""

    def __init__(self, in_channels: int, num_classes: int, norm: str = "instance"):
        cfg = [[64], [128], [256, 256], [512, 512], [512, 512]]
        stages, cin = {}, in_channels
        for i, widths in enumerate(cfg):
            layers = []
            for w in widths:
                layers += [nn.Conv2d(cin, w, 3, padding=1), make_norm(norm, w), nn.ReLU(inplace=True)]
                cin = w
            stages[f"block{i + 1}"] = nn.Sequential(*layers, nn.MaxPool2d(2))
        super().__init__(stages, nn.Linear(512, num_classes))


# name -> (constructor, default keyword arguments)
MODELS = {
    "convnet3": (ConvNet, {}),
    "resnet10": (ResNet, {"blocks": (1, 1, 1, 1)}),
    "resnet18": (ResNet, {"blocks": (2, 2, 2, 2)}),
    "resnet18_bn": (ResNet, {"blocks": (2, 2, 2, 2), "norm": "batch"}),
    "resnet10_ap": (ResNet, {"blocks": (1, 1, 1, 1), "avgpool": True}),
    "resnet18_ap": (ResNet, {"blocks": (2, 2, 2, 2), "avgpool": True}),
    "alexnet": (AlexNet, {}),
    "vgg11": (VGG11, {}),
}

# the stage the local (feature-matching) loss reads: a middle layer of each architecture
WIDTH_MODELS = ("convnet3", "resnet10", "resnet18", "resnet18_bn", "resnet10_ap", "resnet18_ap")  # with a width knob

MIDDLE_LAYER = {"convnet3": "block2", "resnet10": "stage2", "resnet18": "stage2", "resnet18_bn": "stage2",
                "resnet10_ap": "stage2", "resnet18_ap": "stage2", "alexnet": "block2", "vgg11": "block3"}


def make_model(name: str, in_channels: int, num_classes: int, **overrides) -> StagedNet:
    """Build a zoo model by name; ``overrides`` replace its defaults (width, depth, norm, ...)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    cls, kwargs = MODELS[name]
    return cls(in_channels, num_classes, **{**kwargs, **overrides})
