#!/usr/bin/env python3
"""PyTorch twin of a `gpumlp train` recipe, for time to accuracy: the same layer stack (gpumlp's
--arch text form), optimiser, schedule, batch, augmentation and data split, stopping after the
first epoch whose validation accuracy reaches --target-accuracy, as `gpumlp train
--target-accuracy` does.

What it mirrors (each as `gpumlp train` does it):
- the network: every token of the text form becomes its module (`conv{kh}x{kw}x{out}[p{pad}]`
  nn.Conv2d, `pool2` nn.MaxPool2d(2), `flatten` nn.Flatten, `dense{n}` nn.Linear, `relu`, `dropout{p}`,
  `bn` BatchNorm2d after a map and BatchNorm1d after a vector), `mlp` the report's MLP; a stack with
  conv, pool2 or flatten reads 1x28x28 maps, any other the 784-vector; PyTorch's default
  initialisation (gpumlp's too, from its own generator);
- Adam (--lr, --betas) with CrossEntropyLoss, batches of --batch-size, a torch.randperm shuffle
  per epoch on the device, the data resident on the device as uint8 and scaled by 1/255 per batch;
- --lr-schedule constant | onecycle: torch's OneCycleLR(max_lr=lr, total_steps=epochs x steps per
  epoch, pct_start, div_factor, final_div_factor, anneal cos, cycle_momentum) stepped after every
  optimiser step, the schedule gpumlp's onecycle is tested against;
- --augment-shift N: every training image moved by -N..N pixels (pytorch_cnn.py's shift);
- --augment-rotate DEG, --augment-scale F, --augment-shear DEG, --augment-translate F: gpumlp's random
  affine distortion, drawn per image and step from the same uniform ranges, about the image centre,
  resampled bilinearly with zeros outside (affine_grid and grid_sample, align_corners=True), with
  --augment-shift's integer shift added to the translation as gpumlp adds it (random_affine);
- the last --val-split of the training file held out; after every epoch the validation split is
  evaluated (eval mode, 500 rows at a time) and training stops once its accuracy reaches the target;
  then the test set is evaluated once.

Clocks: "train_seconds" runs from the first step to the end of the check that reached the target
(steps, and every epoch's validation, with torch.cuda.synchronize); "since_start_seconds" from the
process's start (Linux: /proc/self/stat) to the same moment, so it includes Python, torch's import,
reading the data and (with --compile) compilation inside the first steps.

Usage:
    python3 pytorch_recipe.py --arch conv5x5x24,pool2,relu,conv3x3x32,pool2,relu,flatten,dense256,relu,dense10 \\
        --epochs 2 --batch-size 256 --lr 0.01 --betas 0.7,0.9 --lr-schedule onecycle --cycle-momentum off \\
        --target-accuracy 0.99 --device cpu --threads 2 --out torch.json

Prints ONE JSON object on stdout (progress on stderr); --out also writes it, atomically, after every
epoch. A failure (no CUDA, --compile on torch 1.x, which has no torch.compile, an error while
compiling or training) is recorded there as "status": "failed" with its "error", exit code 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_cnn import SHIFT_SEED_OFFSET, shift_images  # noqa: E402
from pytorch_mlp import FILES, JsonWriter, evaluate, load_split, log, split_validation, synchronize  # noqa: E402

SIDE = 28
EVAL_BATCH = 500
MLP_TEXT = "dense512,relu,dropout0.2,dense256,relu,dropout0.2,dense10"
# The affine draws' generator: seeded with --seed plus gpumlp's AffineStream (DistortionKernels.cs).
AFFINE_SEED_OFFSET = 0x41464E45


def process_start_time() -> float:
    """The process's start as a time.time() value: /proc/self/stat's start time (clock ticks after
    boot) plus /proc/stat's btime; the import of this module where /proc is missing."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of the whole line: starttime
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration, IndexError):
        return IMPORTED_AT


IMPORTED_AT = time.time()


def stack_modules(text: str, channels: int, height: int, width: int) -> tuple[list[nn.Module], bool, tuple[int, ...]]:
    """gpumlp's layer-stack text -> (one module per layer, in gpumlp's order and so with the names
    its model files use in nn.Sequential; whether the stack reads a CxHxW map; the output shape),
    tracking the activation shape as the specs do ((C, H, W) for a map, (F,) for a vector).
    torch_load_state_dict.py builds its Sequential from this too. Raises ValueError on an unknown layer."""
    tokens = [t.strip().lower() for t in text.split(",") if t.strip()]
    takes_map = any(re.fullmatch(r"conv.*|pool2|flatten", t) for t in tokens)
    shape: tuple[int, ...] = (channels, height, width) if takes_map else (channels * height * width,)
    modules: list[nn.Module] = []
    for token in tokens:
        if m := re.fullmatch(r"conv(\d+)x(\d+)x(\d+)(?:p(\d+))?", token):
            kh, kw, out, pad = int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0)
            modules.append(nn.Conv2d(shape[0], out, kernel_size=(kh, kw), padding=pad))
            shape = (out, shape[1] + 2 * pad - kh + 1, shape[2] + 2 * pad - kw + 1)
        elif token == "pool2":
            modules.append(nn.MaxPool2d(2))
            shape = (shape[0], shape[1] // 2, shape[2] // 2)
        elif token == "flatten":
            modules.append(nn.Flatten())
            shape = (math.prod(shape),)
        elif m := re.fullmatch(r"dense(\d+)", token):
            modules.append(nn.Linear(shape[0], int(m[1])))
            shape = (int(m[1]),)
        elif token == "relu":
            modules.append(nn.ReLU())
        elif m := re.fullmatch(r"dropout([0-9.]+)", token):
            modules.append(nn.Dropout(float(m[1])))
        elif token == "bn":
            modules.append(nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0]))
        else:
            raise ValueError(f"unknown layer {token!r} in {text!r}")
    return modules, takes_map, shape


def build_model(text: str, classes: int = 10) -> tuple[nn.Sequential, bool]:
    """gpumlp's --arch text (or mlp) -> (nn.Sequential reading [B, 784] rows, reads maps): a stack
    that reads maps starts with nn.Unflatten to [B, 1, 28, 28]. Raises ValueError on a bad stack."""
    modules, takes_map, shape = stack_modules(MLP_TEXT if text == "mlp" else text, 1, SIDE, SIDE)
    if shape != (classes,):
        raise ValueError(f"--arch ends in {shape}, not {classes} class scores")
    if takes_map:
        modules.insert(0, nn.Unflatten(1, (1, SIDE, SIDE)))
    return nn.Sequential(*modules), takes_map


def affine_theta(angle: torch.Tensor, scale: torch.Tensor, shear: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor,
                 height: int, width: int) -> torch.Tensor:
    """Per image [B] (angle and shear in degrees, scale a factor, tx and ty in pixels) -> affine_grid's
    theta [B, 2, 3] (align_corners=True) of gpumlp's map (DistortionKernels.Affine, torchvision's
    inverse affine matrix): about the centre C = ((W - 1) / 2, (H - 1) / 2) in pixel indices, y down,
    the output pixel p' reads the source point p = C + M (p' - C - T), M = (R(a) Sh(h))^-1 / s with
    R(a) Sh(h) = [[cos a, -cos a tan h - sin a], [sin a, -sin a tan h + cos a]] (positive angles turn
    the digit clockwise as displayed). Computed in float64, returned in float32 as gpumlp rounds it."""
    a, h = torch.deg2rad(angle.double()), torch.deg2rad(shear.double())
    cos_a, sin_a, tan_h = torch.cos(a), torch.sin(a), torch.tan(h)
    r00, r01, r10, r11 = cos_a, -cos_a * tan_h - sin_a, sin_a, -sin_a * tan_h + cos_a
    s, tx, ty = scale.double(), tx.double(), ty.double()
    m00, m01, m10, m11 = r11 / s, -r01 / s, -r10 / s, r00 / s
    # affine_grid's coordinates run -1..1 over the pixel indices 0..W - 1: x - cx = xn (W - 1) / 2.
    half_w, half_h = (width - 1) / 2, (height - 1) / 2
    theta = torch.stack([
        torch.stack([m00, m01 * half_h / half_w, -(m00 * tx + m01 * ty) / half_w], dim=1),
        torch.stack([m10 * half_w / half_h, m11, -(m10 * tx + m11 * ty) / half_h], dim=1),
    ], dim=1)
    return theta.float()


def affine_images(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """images [B, 784] float -> [B, 784]: each image resampled bilinearly through its theta (affine_theta),
    zeros outside the image, as gpumlp's distorting gather samples it."""
    batch = images.shape[0]
    planes = images.view(batch, 1, SIDE, SIDE)
    grid = F.affine_grid(theta, [batch, 1, SIDE, SIDE], align_corners=True)
    return F.grid_sample(planes, grid, mode="bilinear", padding_mode="zeros", align_corners=True).reshape(batch, SIDE * SIDE)


def random_affine(images: torch.Tensor, args: argparse.Namespace, generator: torch.Generator,
                  shift_generator: torch.Generator) -> torch.Tensor:
    """images [B, 784] float -> [B, 784]: gpumlp's random affine distortion (--augment-rotate,
    --augment-scale, --augment-shear, --augment-translate), drawn per image and step: angle uniform in
    +-rotate degrees, scale in 1 +- scale, x shear in +-shear degrees, translation in +-translate of
    the width and of the height, not rounded to pixels; with --augment-shift N an integer shift
    uniform in -N..N in x and y is added to the translation (gpumlp's shift joins the affine map)."""
    batch, device = images.shape[0], images.device
    draws = torch.rand(5, batch, device=device, generator=generator, dtype=torch.float64) * 2 - 1  # uniform [-1, 1)
    tx, ty = args.augment_translate * SIDE * draws[3], args.augment_translate * SIDE * draws[4]
    if args.augment_shift > 0:
        shifts = torch.randint(-args.augment_shift, args.augment_shift + 1, (2, batch), device=device, generator=shift_generator)
        tx, ty = tx + shifts[0], ty + shifts[1]
    theta = affine_theta(args.augment_rotate * draws[0], 1 + args.augment_scale * draws[1], args.augment_shear * draws[2],
                         tx, ty, SIDE, SIDE)
    return affine_images(images, theta)


def train(args: argparse.Namespace, betas: tuple[float, ...], device: torch.device, started: float, result: dict,
          writer: JsonWriter) -> None:
    """Trains until the target (or the last epoch), evaluates the test set once; fills result and
    rewrites it after every epoch."""
    if args.compile and not hasattr(torch, "compile"):
        raise RuntimeError(f"--compile needs torch.compile (torch 2); this is torch {torch.__version__}")
    train_x, train_y = load_split(args.data, FILES["train_images"], FILES["train_labels"], device)
    test_x, test_y = load_split(args.data, FILES["test_images"], FILES["test_labels"], device)
    train_x, train_y, val_x, val_y = split_validation(train_x, train_y, args.val_split, args.limit_train)
    train_count, val_count = train_x.shape[0], val_x.shape[0]

    torch.manual_seed(args.seed)
    model, _ = build_model(args.arch)
    model = model.to(device)
    result["parameters"] = sum(p.numel() for p in model.parameters())
    trained = torch.compile(model) if args.compile else model
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=betas)
    steps_per_epoch = math.ceil(train_count / args.batch_size)
    scheduler = None
    if args.lr_schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=args.onecycle_pct,
            div_factor=args.div_factor, final_div_factor=args.final_div_factor, cycle_momentum=args.cycle_momentum == "on")
    generator = torch.Generator(device=device)
    generator.manual_seed(args.seed)
    shift_generator = torch.Generator(device=device)
    shift_generator.manual_seed(args.seed + SHIFT_SEED_OFFSET)
    affine_generator = torch.Generator(device=device)
    affine_generator.manual_seed(args.seed + AFFINE_SEED_OFFSET)
    distorted = any(v > 0 for v in (args.augment_rotate, args.augment_scale, args.augment_shear, args.augment_translate))
    loss_fn = nn.CrossEntropyLoss()
    result.update(train_images=train_count, val_images=val_count, steps_per_epoch=steps_per_epoch, epochs=[])
    log(f"{result['device_name']}: {result['parameters']:,} parameters, training on {train_count}, validating on {val_count}")

    model.train()
    synchronize(device)
    first_step = time.perf_counter()
    reached = None
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.perf_counter()
        order = torch.randperm(train_count, device=device, generator=generator)
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        for first in range(0, train_count, args.batch_size):
            index = order[first:first + args.batch_size]
            xb = train_x[index]
            if distorted:
                xb = random_affine(xb.float().div_(255.0), args, affine_generator, shift_generator)
            else:
                if args.augment_shift > 0:
                    xb = shift_images(xb, args.augment_shift, shift_generator)
                xb = xb.float().div_(255.0)
            yb = train_y[index]
            loss = loss_fn(trained(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.detach().double() * yb.shape[0]
        synchronize(device)
        steps_seconds = time.perf_counter() - epoch_start
        val_accuracy, val_loss = evaluate(trained, val_x, val_y, device, EVAL_BATCH)[:2] if val_count > 0 else (None, None)
        synchronize(device)
        now = time.perf_counter()
        record = {"epoch": epoch, "train_loss": loss_sum.item() / train_count, "val_accuracy": val_accuracy, "val_loss": val_loss,
                  "steps_seconds": steps_seconds, "samples_per_second": train_count / steps_seconds,
                  "train_seconds_so_far": now - first_step, "since_start_seconds_so_far": time.time() - started}
        result["epochs"].append(record)
        writer.write(result)
        log(f"epoch {epoch}/{args.epochs}: {steps_seconds:.2f} s of steps, {train_count / steps_seconds:,.0f} samples/s, "
            f"train loss {record['train_loss']:.4f}" + (f", val accuracy {val_accuracy:.4%}" if val_accuracy is not None else ""))
        if args.target_accuracy is not None and val_accuracy is not None and val_accuracy >= args.target_accuracy:
            reached = record
            break

    test_accuracy, test_loss, _ = evaluate(trained, test_x, test_y, device, EVAL_BATCH)
    result["target"] = None if args.target_accuracy is None else {
        "val_accuracy": args.target_accuracy,
        "reached_epoch": reached["epoch"] if reached else None,
        "train_seconds": reached["train_seconds_so_far"] if reached else None,
        "since_start_seconds": reached["since_start_seconds_so_far"] if reached else None,
    }
    result.update(test_accuracy=test_accuracy, test_loss=test_loss, status="done")
    writer.write(result)
    log(f"test accuracy {test_accuracy:.4%}" + (f"; target reached after epoch {reached['epoch']}: {reached['train_seconds_so_far']:.2f} s of training, "
                                                  f"{reached['since_start_seconds_so_far']:.2f} s since start" if reached else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="mlp", help="gpumlp's layer-stack text, or mlp")
    parser.add_argument("--data", default=os.path.join("data", "mnist"))
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--betas", default="0.9,0.999")
    parser.add_argument("--lr-schedule", choices=["constant", "onecycle"], default="constant")
    parser.add_argument("--cycle-momentum", choices=["on", "off"], default="on")
    parser.add_argument("--onecycle-pct", type=float, default=0.3)
    parser.add_argument("--div-factor", type=float, default=25.0)
    parser.add_argument("--final-div-factor", type=float, default=1e4)
    parser.add_argument("--augment-shift", type=int, default=0)
    parser.add_argument("--augment-rotate", type=float, default=0.0, help="rotate by a random angle uniform in +-DEG degrees (gpumlp's)")
    parser.add_argument("--augment-scale", type=float, default=0.0, help="scale by a random factor uniform in 1 +- F")
    parser.add_argument("--augment-shear", type=float, default=0.0, help="shear along x by a random angle uniform in +-DEG degrees")
    parser.add_argument("--augment-translate", type=float, default=0.0,
                        help="move by a random fraction uniform in +-F of the width and height, not rounded to pixels")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--val-split", type=float, default=0.1)
    parser.add_argument("--limit-train", type=int, default=None, help="use only the first N training images (before the split), as gpumlp does")
    parser.add_argument("--target-accuracy", type=float, default=None, help="stop after the first epoch whose validation accuracy reaches this fraction")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--compile", action="store_true", help="train torch.compile(model) (torch 2)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be at least 1")
    if args.target_accuracy is not None and not 0 < args.target_accuracy <= 1:
        parser.error("--target-accuracy is a fraction in (0, 1]")
    if not 0 < args.val_split < 1 and args.target_accuracy is not None:
        parser.error("--target-accuracy needs --val-split in (0, 1)")
    # gpumlp's ranges (ImageDistortion.Validate).
    for flag, value, most in (("--augment-rotate", args.augment_rotate, 180), ("--augment-scale", args.augment_scale, 0.9),
                              ("--augment-shear", args.augment_shear, 60), ("--augment-translate", args.augment_translate, 0.5)):
        if not 0 <= value <= most:
            parser.error(f"{flag} must be in 0..{most} (got {value:g})")
    betas = tuple(float(b) for b in args.betas.split(","))
    if len(betas) != 2:
        parser.error("--betas is two numbers, e.g. 0.9,0.999")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    started = process_start_time()
    device = torch.device(args.device)
    writer = JsonWriter(args.out)
    if device.type == "cuda" and not torch.cuda.is_available():
        failed = {"tool": "pytorch", "torch_version": torch.__version__, "device": args.device, "compile": args.compile,
                  "status": "failed", "error": "torch.cuda.is_available() is False"}
        writer.write(failed)
        print(json.dumps(failed))
        return 1

    result: dict = {
        "tool": "pytorch", "torch_version": torch.__version__, "device": args.device,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine()),
        "torch_threads": torch.get_num_threads(), "compile": args.compile, "arch": args.arch,
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "data")},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "status": "running",
    }
    writer.write(result)

    try:
        train(args, betas, device, started, result, writer)
    except Exception as error:  # noqa: BLE001 - recorded in the JSON (status failed), then the exit code says so
        result.update(status="failed", error=f"{type(error).__name__}: {error}")
        writer.write(result)
        log(f"failed: {result['error']}")
        print(json.dumps(result, indent=2))
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
