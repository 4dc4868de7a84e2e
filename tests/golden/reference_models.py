"""The reference architectures kdcu's models are weight-compatible with, in PyTorch: the same
module structure, parameter names and forward math as the project's shared/reference/torch_models.py
(BasicBlock, ResNet, resnet_cifar, resnet18, CnnSmall, Mlp), kept here once so that the golden-file
scripts (make_models.py, check_kdcu_export.py) and the PyTorch peer benchmarks in bench/ run from
the repository alone. PyTorch is needed only by those scripts, never to build or test kdcu.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class ResNet(nn.Module):
    def __init__(self, blocks, widths, in_channels=1, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        cin = widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths)):
            layer = []
            for j in range(n):
                layer.append(BasicBlock(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.num_stages = len(blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet_cifar(depth, width_mult=1, **kw):
    n, w = (depth - 2) // 6, 16 * width_mult
    return ResNet([n, n, n], [w, 2 * w, 4 * w], **kw)


class CnnSmall(nn.Module):
    def __init__(self, in_channels=1, image_size=28, num_classes=10, c1=16, c2=32, hidden=64):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, c1, 3, 1, 1)
        self.conv2 = nn.Conv2d(c1, c2, 3, 1, 1)
        self.fc1 = nn.Linear(c2 * (image_size // 4) ** 2, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


def resnet18(**kw):
    return ResNet([2, 2, 2, 2], [64, 128, 256, 512], **kw)


class Mlp(nn.Module):
    def __init__(self, in_features=784, hidden=(800, 800), num_classes=10, dropout=0.0):
        super().__init__()
        dims = [in_features, *hidden, num_classes]
        for i in range(len(dims) - 1):
            setattr(self, f"fc{i + 1}", nn.Linear(dims[i], dims[i + 1]))
        self.num_layers = len(dims) - 1
        self.dropout = dropout

    def forward(self, x):
        x = torch.flatten(x, 1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i + 1}")(x)
            if i + 1 < self.num_layers:
                x = F.dropout(F.relu(x), self.dropout, self.training)
        return x
