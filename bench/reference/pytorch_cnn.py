#!/usr/bin/env python3
"""PyTorch reference for GpuMlp's CNN preset (`gpumlp train --arch cnn`): the same network, optimiser, augmentation and data handling, timed the same way.

Model (`conv5x5x32p2,relu,pool2,conv5x5x64p2,relu,pool2,flatten,dense512,relu,dropout0.5,dense10`,
1,663,370 parameters): nn.Sequential(Unflatten to [B,1,28,28], Conv2d(1,32,5,padding=2), ReLU,
MaxPool2d(2), Conv2d(32,64,5,padding=2), ReLU, MaxPool2d(2), Flatten, Linear(3136,512), ReLU,
Dropout(0.5), Linear(512,10)), PyTorch's default initialisation, Adam(lr=1e-3),
CrossEntropyLoss, batch 128. Data handling, timing, --out and --compile as pytorch_mlp.py (whose
code this script imports): the last 10 % of the training file is held out (--val-split), the
dataset stays on the device as uint8, each batch is gathered (and shifted) on the device and
scaled by 1/255, each epoch is shuffled with torch.randperm on the device, and only training steps
are timed.

Augmentation (--augment-shift N, default 2 like the preset): every training image is moved by
(sx, sy), each uniform in -N..N and drawn per image and step, zeros moved in, as gpumlp's
--augment-shift does (gpumlp draws from its own counter hash, so the shifts are not the same
ones). It runs on the device inside the timed step, vectorised: the uint8 batch is padded by N and
each image cropped back to 28x28 at its own random offset with one gather. Validation and test
images are never shifted; they are evaluated 500 rows at a time (eval mode, no_grad), after every
epoch (validation) and at the end (test).

Usage:
    python3 pytorch_cnn.py --data data/mnist --device cuda --epochs 15 --out pytorch-cnn.json
    python3 pytorch_cnn.py --device cpu --threads 2 --limit-train 6000 --epochs 3

Prints ONE JSON object on stdout at the end (progress on stderr); --out PATH also writes it,
atomically, after setup, every epoch and every evaluation. Needs only torch.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_mlp import add_common_arguments, base_result, check_common_arguments, run  # noqa: E402

ARCHITECTURE = "conv5x5x32p2,relu,pool2,conv5x5x64p2,relu,pool2,flatten,dense512,relu,dropout0.5,dense10"
SIDE = 28
EVAL_BATCH = 500
# The shifts' generator is seeded apart from the shuffles', so a run with and without shifts
# visits the images in the same order.
SHIFT_SEED_OFFSET = 0x53484654


def build_model(seed: int, dropout: float, device: torch.device) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Unflatten(1, (1, SIDE, SIDE)),
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 512), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(512, 10),
    ).to(device)


def shift_images(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """images [B, 784] (any dtype) -> [B, 784]: image b moved right by sx[b] and down by sy[b], each
    uniform in -max_shift..max_shift, zeros moved in. out[b, y, x] = images[b, y - sy, x - sx], i.e.
    padded[b, y + (max_shift - sy), x + (max_shift - sx)] of the image padded by max_shift."""
    batch = images.shape[0]
    padded = F.pad(images.view(batch, SIDE, SIDE), (max_shift, max_shift, max_shift, max_shift))
    # offsets [2, B]: max_shift - sy and max_shift - sx, each uniform in 0..2 max_shift.
    offsets = torch.randint(0, 2 * max_shift + 1, (2, batch), device=images.device, generator=generator)
    steps = torch.arange(SIDE, device=images.device)
    rows = (offsets[0].unsqueeze(1) + steps).unsqueeze(2)  # [B, 28, 1]
    cols = (offsets[1].unsqueeze(1) + steps).unsqueeze(1)  # [B, 1, 28]
    which = torch.arange(batch, device=images.device).view(batch, 1, 1)
    return padded[which, rows, cols].reshape(batch, SIDE * SIDE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, dropout=0.5, validate_every_epoch_option=False)
    parser.add_argument("--augment-shift", type=int, default=2,
                        help="move every training image by a random -N..N pixels in x and y (0: no augmentation; default 2, the preset's)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own choice)")
    args = parser.parse_args()
    check_common_arguments(parser, args)
    if not 0 <= args.augment_shift < SIDE:
        parser.error(f"--augment-shift must be in 0..{SIDE - 1}")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    args.validate_every_epoch = True  # the CNN's record has validation loss and accuracy per epoch

    model = ARCHITECTURE if args.dropout == 0.5 else ARCHITECTURE.replace("dropout0.5", f"dropout{args.dropout:g}")
    result = base_result(args, model)
    result.update(architecture=model, parameters=sum(p.numel() for p in build_model(args.seed, args.dropout, torch.device("cpu")).parameters()),
                  augment_shift=args.augment_shift, eval_batch_size=EVAL_BATCH)

    def train_options(device: torch.device) -> dict:
        transform = None
        if args.augment_shift > 0:
            generator = torch.Generator(device=device)
            generator.manual_seed(args.seed + SHIFT_SEED_OFFSET)
            transform = lambda images: shift_images(images, args.augment_shift, generator)  # noqa: E731
        return {"transform": transform, "eval_batch": EVAL_BATCH, "train_accuracy": True}

    return run(args, result, lambda device: build_model(args.seed, args.dropout, device), train_options)


if __name__ == "__main__":
    sys.exit(main())
