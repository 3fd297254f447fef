"""The pixel normalisation of every backbone here (torchvision's ImageNet weights): RGB in [0, 1]
minus the mean, over the std. Padding with the mean (the data layer's batches) normalises to 0,
which is what torchvision and detectron2 pad with."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
