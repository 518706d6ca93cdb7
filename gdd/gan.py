"""Stage 1: the label-conditioned generator and the AC-GAN critic (DiM's architecture).

Generator: noise z (``noise`` dims) whose first ``num_classes`` entries are overwritten by the
one-hot label -> linear to width x 4 x 4 -> BN, ReLU -> three [upsample x2 (transposed conv),
BN, ReLU, conv3x3, BN, ReLU] blocks to 32 x 32 -> conv3x3 to C channels -> tanh. Images
leave the generator in [-1, 1]; ``to_unit`` maps them to the [0, 1] image format.

Critic: conv stack with LayerNorm and LeakyReLU down to width x 4 x 4, two heads: a
real/fake (Wasserstein) score and class logits. Trained as WGAN-GP (gradient penalty 10)
plus class cross-entropy on real and generated images.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]."""
    return (x + 1) / 2


def from_unit(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x * 2 - 1


class Generator(nn.Module):
    def __init__(self, channels: int, num_classes: int, width: int = 196, noise: int = 100):
        super().__init__()
        if noise < num_classes:
            raise ValueError(f"noise size {noise} must be at least the class count {num_classes}")
        self.channels, self.num_classes, self.width, self.noise = channels, num_classes, width, noise
        self.fc = nn.Sequential(nn.Linear(noise, width * 16), nn.BatchNorm1d(width * 16), nn.ReLU(True))
        blocks = []
        for _ in range(3):  # 4 -> 8 -> 16 -> 32
            blocks += [nn.ConvTranspose2d(width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(True),
                       nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width), nn.ReLU(True)]
        self.body = nn.Sequential(*blocks, nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh())

    def make_input(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = z.clone()
        z[:, :self.num_classes] = F.one_hot(y, self.num_classes).to(z)
        return z

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z: B x noise, y: B int64 -> images B x C x 32 x 32 in [-1, 1]."""
        h = self.fc(self.make_input(z, y)).view(len(z), self.width, 4, 4)
        return self.body(h)


class Critic(nn.Module):
    def __init__(self, channels: int, num_classes: int, width: int = 196):
        super().__init__()
        layers, side, cin = [], 32, channels
        for stride in (1, 2, 1, 2, 1, 2):  # 32 -> 16 -> 8 -> 4
            side //= stride
            layers += [nn.Conv2d(cin, width, 3, stride, 1), nn.LayerNorm([width, side, side]), nn.LeakyReLU(0.2)]
            cin = width
        self.body = nn.Sequential(*layers)
        self.score = nn.Linear(width * 16, 1)
        self.classify = nn.Linear(width * 16, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: B x C x 32 x 32 in [-1, 1] -> (score B, class logits B x classes)."""
        h = self.body(x).flatten(1)
        return self.score(h).squeeze(1), self.classify(h)


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates x_hat of real and fake."""
    a = torch.rand(len(real), 1, 1, 1, device=real.device)
    x_hat = (a * real + (1 - a) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(x_hat)[0].sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()


def critic_loss(critic: Critic, real: torch.Tensor, y_real: torch.Tensor, fake: torch.Tensor, y_fake: torch.Tensor,
                gp_weight: float = 10.0) -> tuple[torch.Tensor, dict]:
    """WGAN-GP critic loss + class cross-entropy on real (labels ``y_real``) and fake (labels
    ``y_fake``, detached); the parts for logging as detached 0-dim tensors (reading them back is
    left to the caller: a sync)."""
    fake = fake.detach()
    s_real, c_real = critic(real)
    s_fake, c_fake = critic(fake)
    wasserstein = s_real.mean() - s_fake.mean()
    gp = gradient_penalty(critic, real, fake)
    cls = F.cross_entropy(c_real, y_real) + F.cross_entropy(c_fake, y_fake)
    loss = -wasserstein + gp_weight * gp + cls
    return loss, {"d_loss": loss.detach(), "wasserstein": wasserstein.detach(), "gp": gp.detach()}


def generator_gan_loss(critic: Critic, fake: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """L_cGAN for the generator: -D(G(z, y)) + CE(class head, y); parts as in ``critic_loss``."""
    score, logits = critic(fake)
    adv, cls = -score.mean(), F.cross_entropy(logits, y)
    return adv + cls, {"g_adv": adv.detach(), "g_cls": cls.detach()}
