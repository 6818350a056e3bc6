"""Your own photos: ``zoo-train finetune --from resnet18.cifar10 --data-dir PHOTOS`` (see :mod:`training.finetune`)."""

from __future__ import annotations

from dataclasses import replace

from .base import Profile, Recipe, register

#: Chosen on flowers (5 classes, 2,932 training photos) on two CPU cores; see README "Your own photos".
FINETUNE = Profile(
    epochs=8,
    batch_size=64,
    optimizer="adamw",
    lr=2e-3,
    weight_decay=0.05,
    label_smoothing=0.1,
    precision="auto",
    channels_last=True,
    augment={"resized_crop": [0.35, 1.0], "flip": True, "train_scale": 0.75},
    eval_batch_size=256,
    extra={"freeze_epochs": 1, "backbone_lr_scale": 0.2, "warmup": 0.15, "class_weights": False, "eval_every": 2},
    notes="1 epoch training the new head alone, then 7 of the whole network (backbone at 0.2x the rate); AdamW "
    "2e-3, wd 0.05, batch 64, warm-up then cosine, label smoothing 0.1, random-resized crops (35-100 % of the "
    "area) + flips trained at 0.75x the served size (FixRes), bf16 where the CPU has it, channels_last; evaluated "
    "every 2 epochs",
)
#: The same budget from random weights (``--from none``): no frozen phase, one rate for every layer.
SCRATCH = replace(
    FINETUNE,
    extra={"freeze_epochs": 0, "backbone_lr_scale": 1.0, "warmup": 0.15, "class_weights": False, "eval_every": 2},
    notes="as the default's budget (8 epochs) from random weights: no frozen phase, one rate for all layers",
)

register(
    Recipe(
        "finetune",
        "resnet18",
        "finetune",
        "photo-folder",
        "A trained classifier fine-tuned on your own folder of photos (`zoo-train finetune --from resnet18.cifar10 "
        "--data-dir PHOTOS`).",
        "S3 L3600-3700 (transfer learning; recipe ours)",
        {"default": FINETUNE, "scratch": SCRATCH},
        default="default",
        departure="not a seed recipe: the tutorial's transfer lesson trains a frozen ImageNet backbone's head; this "
        "trains the head, then the whole network (fastai's fine_tune)",
    )
)
