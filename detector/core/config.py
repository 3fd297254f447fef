"""Typed configuration: the single source of every default.

A run's configuration is a tree of dataclasses. YAML files and ``key.sub=value`` command-line
overrides only name what differs from these defaults; both are type-checked against the field
annotations, and an unknown key or a wrong type is a one-line ``ConfigError`` that lists the valid
choices. The resolved configuration is saved as plain data with every run and checkpoint.

Model, loss, matcher and inference defaults follow Lin et al. 2017 (R50-FPN, 256 channels, 4 head
convs, anchors 32..512); the built-in synthetic CPU benchmark shrinks them in ``configs/shapes_*.yaml``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from detector.core.config_files import DEFAULT_CONFIG, find_config, recipe_file
from detector.core.config_layers import config_layers, explicit_keys, merge_layers, read_yaml
from detector.core.duration import parse_duration
from detector.core.typed_merge import ConfigError, merge_into, parse_override


@dataclass
class SyntheticConfig:
    """The built-in shapes benchmark; every knob changes the generated dataset (and its folder)."""

    num_train: int = 2000
    num_val: int = 300
    image_size: int = 192
    classes: list[str] = field(default_factory=lambda: ["circle", "square", "triangle"])
    # relative frequencies of the classes above (normalised); dial for class imbalance
    class_weights: list[float] = field(default_factory=lambda: [0.5, 0.3, 0.2])
    # the validation split's class frequencies ([] = class_weights): e.g. balanced, to measure a
    # rare class's AP on enough instances when class_weights is long-tailed
    val_class_weights: list[float] = field(default_factory=list)
    objects_per_image: list[int] = field(default_factory=lambda: [1, 8])  # [min, max]
    # object side length in pixels, drawn log-uniformly: most objects are small
    size_range: list[float] = field(default_factory=lambda: [10.0, 64.0])
    distractors_per_image: list[int] = field(default_factory=lambda: [1, 6])  # unlabeled clutter
    empty_fraction: float = 0.05  # images with clutter but no objects
    textured_background: bool = True
    seed: int = 0


@dataclass
class NoiseConfig:
    """Annotation noise put into the training split on purpose (``data/noise.py``); validation stays clean."""

    missing: float = 0.0  # probability that a box is left out (a missed object)
    swap: float = 0.0  # probability that a box gets another class
    jitter: float = 0.0  # std of each edge's shift, as a fraction of the box's width / height
    seed: int = 0


@dataclass
class DataConfig:
    """Where the data is and how to read it; data/README.md shows every format and layout."""

    dataset: Literal["synthetic", "coco", "voc", "yolo", "csv"] = "synthetic"
    root: str = "data/shapes"  # dataset folder; synthetic data is generated here when absent
    # per split: coco: image folder + JSON ("" = <root>/<split> and <root>/annotations/<split>.json);
    # voc: folder of XML files (+ image folder, "" = beside the XML files); yolo: image folder;
    # csv: the CSV file (keras-retinanet path,x1,y1,x2,y2,class_name)
    train_images: str = ""
    train_annotations: str = ""
    val_images: str = ""
    val_annotations: str = ""
    # Pascal VOC: "FOLDER:SPLIT" sets under root, e.g. ["VOC2007:trainval", "VOC2012:trainval"]
    train_sets: list[str] = field(default_factory=list)
    val_sets: list[str] = field(default_factory=list)
    yolo_yaml: str = ""  # yolo: a data.yaml as Ultralytics / Roboflow write it (path, train, val, names)
    # voc, yolo, csv; empty = from the data (yolo: data.yaml or classes.txt; voc/csv: discovered, printed)
    class_names: list[str] = field(default_factory=list)
    class_file: str = ""  # csv: a keras-retinanet classes.csv (class_name,id)
    # > 0: hold out this fraction of the training images as the validation split (seeded, stratified
    # by class; recorded in split_file so evaluation and resume use the same split)
    val_fraction: float = 0.0
    split_seed: int = 0
    split_file: str = ""  # "" = <run dir>/split.json
    on_bad_image: Literal["skip", "error"] = "skip"  # a missing or undecodable image: leave it out, or stop
    # images with more pixels are refused as decompression bombs (listed as unreadable, never decoded);
    # PIL's own limit by default; raise it for huge aerial or slide images; 0 = no limit
    max_image_pixels: int = 178_956_970
    scan_cache: str = ""  # the scan's cache folder; "" = ~/.cache/retinanet/scan; "none" = no cache
    filter_empty: bool = False  # leave out training images without annotations (default: negatives)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)  # training-split label noise, for studies


@dataclass
class AugmentConfig:
    # "letterbox": longest side = image_size, padded to a square (small images, fixed shapes);
    # "shortest_edge": shorter side = image_size unless the longer would exceed max_size (detectron2)
    resize: Literal["letterbox", "shortest_edge"] = "letterbox"
    image_size: int = 800
    max_size: int = 1333  # shortest_edge only
    hflip_prob: float = 0.5
    # box-safe random crop (albumentations BBoxSafeRandomCrop) before the resize, with this
    # probability: a random part of the image that still holds every box, so objects come out larger
    crop_prob: float = 0.0
    # mosaic (YOLOv4/v5): with this probability a training input is four images around a random centre,
    # each at its letterbox scale (detector/data/mosaic.py); letterbox resize only
    mosaic_prob: float = 0.0
    # multi-scale training: each training batch is resized as a whole by a factor drawn uniformly from
    # [low, high] (sides rounded to multiples of 32; boxes scaled with it; the draw depends on the seed
    # and the step only, so resume is exact). [1.0, 1.0] = off; evaluation always uses image_size
    scale_range: list[float] = field(default_factory=lambda: [1.0, 1.0])
    color_jitter_prob: float = 0.0
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.02


@dataclass
class BackboneConfig:
    name: Literal["resnet18", "resnet34", "resnet50", "resnet101"] = "resnet50"
    # "" = random init; a torchvision weights name (e.g. "IMAGENET1K_V1") or a local state_dict file
    weights: str = ""
    frozen_bn: bool = False  # FrozenBatchNorm2d everywhere in the ResNet (finetuning, tiny batches)
    freeze_stages: int = 0  # 0 = train all; k = freeze the stem and the first k-1 residual stages


@dataclass
class AnchorConfig:
    sizes: list[float] = field(default_factory=lambda: [32.0, 64.0, 128.0, 256.0, 512.0])  # P3..P7
    scales: list[float] = field(default_factory=lambda: [1.0, 2 ** (1 / 3), 2 ** (2 / 3)])
    ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])  # height / width
    # torchvision's retinanet_resnet50_fpn truncates size * scale to an int and rounds the cell
    # anchors to whole pixels; set this to run its imported weights with identical boxes
    torchvision_compat: bool = False

    @property
    def per_location(self) -> int:
        """Anchors at each grid position of a level: one per (ratio, scale)."""
        return len(self.scales) * len(self.ratios)


@dataclass
class HeadConfig:
    num_convs: int = 4
    norm: Literal["none", "gn"] = "none"
    prior_prob: float = 0.01  # 0 means "no prior": classification bias starts at 0


@dataclass
class ModelConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    fpn_channels: int = 256
    p6_from: Literal["c5", "p5"] = "c5"  # the paper takes P6 from C5; torchvision's v1 model from P5
    init_from: str = ""  # checkpoint or torchvision RetinaNet state_dict to start from (train --init-from)
    # > 1: pad each (normalised) input at the bottom and right to a multiple of this, with zeros, as
    # torchvision and detectron2 do (32); the anchors then cover the padding too. 1 = no padding
    size_divisible: int = 1
    anchors: AnchorConfig = field(default_factory=AnchorConfig)
    head: HeadConfig = field(default_factory=HeadConfig)


@dataclass
class MatcherConfig:
    # "iou": the paper's fixed thresholds below; "atss": adaptive training sample selection (Zhang
    # et al. 2020): per box, the topk nearest anchor positions of each level are candidates, and those
    # with IoU >= mean + std of the candidates' IoUs, centred inside the box, are its positives (no
    # ignored band). fg_iou stays the coverage threshold of `focaldet anchors` either way
    name: Literal["iou", "atss"] = "iou"
    fg_iou: float = 0.5  # iou: IoU >= fg_iou is foreground
    bg_iou: float = 0.4  # iou: IoU < bg_iou is background; in between: ignored
    allow_low_quality: bool = True  # iou: each box also claims its best anchor(s)
    topk: int = 9  # atss: candidate positions per level and box
    crowd_ioa: float = 0.5  # anchors covered this much by a crowd box are ignored, not background


@dataclass
class LossConfig:
    # a name of detector/losses/classification.py's table (tests/losses check the two agree): focal;
    # bce (plain); balanced_ce (alpha only); ohem (bce on positives + hardest negatives); ghm (GHM-C,
    # Li et al. 2019); qfl (quality focal loss, Li et al. 2020); efl (equalized focal loss, Li et al.
    # 2022). Each loss uses only its own fields below; setting another one is an error
    cls: Literal["focal", "bce", "balanced_ce", "ohem", "ghm", "qfl", "efl"] = "focal"
    alpha: float = 0.25  # focal, balanced_ce and efl; < 0 disables the alpha weighting
    gamma: float = 2.0  # focal; efl's base gamma
    # focal and balanced_ce: inverse_frequency weighs the positives of class k alpha * w_k, w_k = 1 / (K f_k)
    # with f_k class k's share of the training boxes (computed at the start of training and printed)
    class_alpha: Literal["none", "inverse_frequency"] = "none"
    ohem_ratio: float = 3.0  # ohem: negatives kept per positive, per image
    efl_scale: float = 8.0  # efl: gamma_j = gamma + efl_scale * (1 - g_j) (the paper's s)
    ghm_bins: int = 10
    ghm_momentum: float = 0.75  # ghm: EMA of the gradient-density histogram; 0 = per batch
    qfl_beta: float = 2.0
    box: Literal["smooth_l1", "l1", "giou"] = "smooth_l1"  # detector/losses/box.py
    beta: float = 0.1  # smooth L1 transition point (smooth_l1 only)
    box_weight: float = 1.0
    # EMA momentum of the positive-anchor count used as normaliser (detectron2 uses 0.9); 0 = per batch
    normalizer_momentum: float = 0.0
    box_coder_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0])


@dataclass
class InferenceConfig:
    score_thresh: float = 0.05
    topk_per_level: int = 1000
    nms_thresh: float = 0.5
    max_detections: int = 100
    # precision of evaluation and inference (focaldet eval and detect, evaluation during training);
    # training's own is train.amp
    amp: Literal["auto", "none", "bf16", "fp16"] = "auto"


@dataclass
class EvalConfig:
    # faster-coco-eval gives the same 12 stats as pycocotools (tests/evaluation/test_evaluate.py) several
    # times faster; pycocotools stays available as the reference implementation
    backend: Literal["faster_coco_eval", "pycocotools"] = "faster_coco_eval"
    confusion_score: float = 0.3  # detections scoring at least this count in the confusion matrix


@dataclass
class SolverConfig:
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9  # SGD only
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # AdamW only
    weight_decay: float = 1e-4
    max_iters: int = 90000
    # train for a wall-clock budget instead: "10m", "90s", "1h30m", or minutes as a number, counted from
    # the start of the command (focaldet train) or of detector.train(). The step rate is measured over
    # the first steps (and again at 30/60/85% of the budget), then max_iters (and warm-up, step
    # milestones) are fixed so that training, evaluations and checkpoints fit; the count is
    # recorded in the run's config.yaml and checkpoints, so --resume continues the same schedule. "" = max_iters
    time_budget: str = ""
    warmup_iters: int = 500
    # with time_budget: warm-up is at most this fraction of the run (short runs), at most warmup_iters (long)
    warmup_fraction: float = 0.05
    warmup_factor: float = 0.001
    schedule: Literal["step", "cosine"] = "step"
    steps: list[float] = field(default_factory=lambda: [60000.0, 80000.0])  # for "step": iterations
    step_gamma: float = 0.1
    clip_grad_norm: float = 0.0  # 0 = no clipping


@dataclass
class TrainConfig:
    batch_size: int = 16  # the global batch: under torchrun each of N processes loads batch_size / N
    device: str = "auto"  # auto | cpu | cuda | cuda:N (under torchrun: each process's cuda:LOCAL_RANK)
    # auto: bf16 on CUDA devices with bf16 and on CPUs with native bf16 (AVX512-BF16 / AMX), fp16
    # (+ GradScaler) on older GPUs, fp32 elsewhere; decided once per run and printed
    amp: Literal["auto", "none", "bf16", "fp16"] = "auto"
    channels_last: bool = False
    compile: bool = False  # torch.compile forward + loss as one graph (needs a C++ compiler on CPU)
    sync_bn: bool = False  # under torchrun on CUDA: SyncBatchNorm, batch statistics over all processes
    # a step whose loss or gradient is not finite: 0 = stop (last.pt stays the last good state);
    # N > 0 = skip such steps (no update) up to N times in the run, then stop. Either way the
    # offending batch's image ids go to <run dir>/nonfinite.jsonl
    skip_nonfinite: int = 0
    # > 0: keep an exponential moving average of the weights (e.g. 0.9998), ramped in over ema_tau
    # updates; evaluations use it and checkpoints hold it as "model" (the trained weights as
    # "train_model", for --resume). 0 = off
    ema_decay: float = 0.0
    ema_tau: float = 2000.0
    seed: int = 0
    num_workers: int = 2  # loader processes, started once per run
    prefetch_factor: int = 2  # batches each worker prepares ahead
    eval_period: int = 0  # iterations between evaluations; 0 = only at the end
    checkpoint_period: int = 500
    keep_checkpoints: int = 1  # > 1: also keep that many step-numbered checkpoints (step_00001000.pt)
    log_period: int = 20
    vis_images: int = 4  # validation images drawn to TensorBoard at each evaluation
    output_dir: str = ""  # "" = runs/<config name>


@dataclass
class Config:
    name: str = "default"
    # the recipe under this config (configs/recipes/<name>.yaml; docs/training.md, "Recipes"): its values
    # sit below the config's own, which override them. auto: chosen at the start of training from the device,
    # whether the named pretrained weights load, and the data (anchors from the coverage search), and
    # printed in one line; none: no recipe, the defaults below (the paper's) under the config
    recipe: Literal["auto", "none", "scratch", "imagenet", "coco"] = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def from_dict(data: dict[str, Any]) -> Config:
    """Build a Config from plain (possibly partial) nested data, e.g. one saved in a checkpoint."""
    cfg = Config()
    merge_into(cfg, data)
    return cfg


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply ``key.sub=value`` overrides to ``cfg`` in place (type-checked) and re-validate it."""
    for text in overrides:
        merge_into(cfg, parse_override(text))
    validate(cfg)
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the config's recipe (if it names one), then the YAML file (if any), then
    ``key=value`` overrides, all type-checked.

    ``path`` is a file, or the name of a shipped config (``core/config_files.py``). A YAML file may
    start from another with ``_base_: other.yaml`` (a path relative to it, or a shipped config's
    name) and name only what differs. ``recipe: scratch`` (imagenet, coco) puts
    ``configs/recipes/<recipe>.yaml`` under the file, so the file overrides it; ``recipe: auto`` is
    left for the trainer to choose (``engine.recipes``). The config's ``name`` defaults to the YAML
    file's stem, so runs land in ``runs/<name>``.
    """
    path = find_config(path) if path is not None else None
    layers = config_layers(path, overrides or [])
    recipe = merge_layers(Config(), layers).recipe  # also type-checks every layer before anything else
    cfg = Config()
    if recipe not in ("auto", "none"):
        file = recipe_file(recipe)
        merge_layers(cfg, [(f"{file}: ", read_yaml(file))])
    merge_layers(cfg, layers)
    if path is not None and "name" not in read_yaml(path):
        cfg.name = Path(path).stem
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Cross-field checks that types alone cannot express."""
    checks = [
        (cfg.matcher.bg_iou <= cfg.matcher.fg_iou, "matcher.bg_iou must be <= matcher.fg_iou"),
        (cfg.matcher.topk >= 1, "matcher.topk must be >= 1"),
        (len(cfg.augment.scale_range) == 2 and 0 < cfg.augment.scale_range[0] <= cfg.augment.scale_range[1],
         "augment.scale_range needs 2 values 0 < low <= high (1.0 = the configured size)"),
        (0.0 <= cfg.augment.crop_prob <= 1.0, "augment.crop_prob must be a probability in [0, 1]"),
        (0.0 <= cfg.augment.mosaic_prob <= 1.0, "augment.mosaic_prob must be a probability in [0, 1]"),
        (cfg.augment.mosaic_prob == 0 or cfg.augment.resize == "letterbox",
         f"augment.mosaic_prob={cfg.augment.mosaic_prob} needs augment.resize=letterbox, not {cfg.augment.resize}: "
         f"set augment.mosaic_prob=0 to use {cfg.augment.resize} (the scratch recipe turns mosaic on)"),
        (len(cfg.model.anchors.sizes) == 5, "model.anchors.sizes needs 5 values, one per level P3..P7"),
        (0.0 <= cfg.model.head.prior_prob < 1.0, "model.head.prior_prob must be in [0, 1)"),
        (cfg.train.batch_size >= 1, "train.batch_size must be >= 1"),
        (cfg.train.skip_nonfinite >= 0, "train.skip_nonfinite must be >= 0"),
        (0.0 <= cfg.train.ema_decay < 1.0 and cfg.train.ema_tau > 0, "train.ema_decay must be in [0, 1) and "
         "train.ema_tau > 0"),
        (cfg.solver.max_iters >= 1, "solver.max_iters must be >= 1"),
        (cfg.solver.lr > 0, "solver.lr must be > 0"),
        (0.0 <= cfg.solver.warmup_fraction < 1.0, "solver.warmup_fraction must be in [0, 1)"),
        (all(0 <= v <= 1 for v in (cfg.data.noise.missing, cfg.data.noise.swap)) and cfg.data.noise.jitter >= 0,
         "data.noise.missing and data.noise.swap must be probabilities in [0, 1], data.noise.jitter >= 0"),
        (0 <= cfg.model.backbone.freeze_stages <= 5, "model.backbone.freeze_stages must be in 0..5"),
        (len(cfg.loss.box_coder_weights) == 4, "loss.box_coder_weights needs 4 values"),
        (len(cfg.solver.betas) == 2, "solver.betas needs 2 values (AdamW's beta1, beta2)"),
        (0.0 <= cfg.data.val_fraction < 1.0, "data.val_fraction must be in [0, 1)"),
        (cfg.data.max_image_pixels >= 0, "data.max_image_pixels must be >= 0 (0 = no limit)"),
        (cfg.model.size_divisible >= 1, "model.size_divisible must be >= 1"),
        (len(cfg.data.synthetic.classes) == len(cfg.data.synthetic.class_weights),
         "data.synthetic.class_weights needs one value per class in data.synthetic.classes"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    if cfg.solver.time_budget:
        try:
            parse_duration(cfg.solver.time_budget)
        except ValueError as exc:
            raise ConfigError(f"solver.time_budget: {exc}") from None


def save_yaml(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


__all__ = [
    "DEFAULT_CONFIG", "Config", "ConfigError", "apply_overrides", "explicit_keys", "from_dict", "load_config",
    "parse_override", "save_yaml", "validate",
]
