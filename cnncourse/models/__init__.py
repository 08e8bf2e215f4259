"""The architectures of lecture 05 as plain ``torch.nn`` modules (no pretrained weights).

One module per family; layouts and state-dict keys follow torchvision where torchvision has the
model, so parameter counts equal torchvision's published ones:

- :mod:`~cnncourse.models.lenet`      :class:`LeNet5`, :class:`SmallCNN` (the digits CNN of lecture 06)
- :mod:`~cnncourse.models.alexnet`    :class:`AlexNet` (torchvision), :class:`AlexNetSlide` (227x227, 96 CONV1 filters)
- :mod:`~cnncourse.models.vgg`        :class:`VGG`, :func:`vgg16`
- :mod:`~cnncourse.models.googlenet`  :class:`InceptionModule`, :class:`GoogLeNet`, :func:`googlenet`
- :mod:`~cnncourse.models.resnet`     :class:`BasicBlock`, :class:`Bottleneck`, :class:`ResNet`, resnet18/50, ResNeXt
- :mod:`~cnncourse.models.mobilenet`  :class:`InvertedResidual`, :class:`MobileNetV2`, :class:`MobileFaceNet`
- :mod:`~cnncourse.models.blocks`     :class:`SEBlock`, :class:`DepthwiseSeparable`, :func:`channel_shuffle`,
  :class:`DenseBlock`, :func:`conv_bn_act`
- :mod:`~cnncourse.models.training`   :func:`train_classifier`, :func:`accuracy` (the digits CNN of lecture 06)
"""

from cnncourse.models.alexnet import AlexNet, AlexNetSlide
from cnncourse.models.blocks import DenseBlock, DepthwiseSeparable, SEBlock, channel_shuffle, conv_bn_act
from cnncourse.models.googlenet import BasicConv2d, GoogLeNet, InceptionModule, googlenet
from cnncourse.models.lenet import LeNet5, SmallCNN
from cnncourse.models.mobilenet import (MOBILEFACENET_TABLE, InvertedResidual, MobileFaceNet, MobileNetV2,
                                        mobilenet_v2)
from cnncourse.models.resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet50, resnext50_32x4d
from cnncourse.models.training import accuracy, one_cycle_lr, train_classifier
from cnncourse.models.vgg import VGG, VGG_CONFIGS, vgg16

__all__ = [
    "AlexNet", "AlexNetSlide", "BasicBlock", "BasicConv2d", "Bottleneck", "DenseBlock", "DepthwiseSeparable",
    "GoogLeNet", "InceptionModule", "InvertedResidual", "LeNet5", "MOBILEFACENET_TABLE", "MobileFaceNet",
    "MobileNetV2", "ResNet", "SEBlock", "SmallCNN", "VGG", "VGG_CONFIGS", "channel_shuffle", "conv_bn_act",
    "accuracy", "googlenet", "mobilenet_v2", "one_cycle_lr", "resnet18", "resnet50", "resnext50_32x4d", "train_classifier", "vgg16",
]
