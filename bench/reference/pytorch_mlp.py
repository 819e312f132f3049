#!/usr/bin/env python3
"""PyTorch reference for GpuMlp: the same MNIST MLP, optimiser and data handling, timed the same way.

Model: nn.Sequential(Linear(784,512), ReLU, Dropout(0.2), Linear(512,256), ReLU, Dropout(0.2),
Linear(256,10)), PyTorch's default initialisation, Adam(lr=1e-3), CrossEntropyLoss, batch 128.
Like `gpumlp train`, the last 10 % of the training file is held out for validation (--val-split),
the whole dataset stays on the device as uint8 and each batch is gathered and scaled by 1/255 on
the device, and each epoch is shuffled with torch.randperm on the device.

Training throughput (samples/s) counts training steps only: the clock starts after a
synchronize and stops after torch.cuda.synchronize() at the end of the epoch (validation and
test evaluation are timed separately).

Usage:
    python3 pytorch_mlp.py --data data/mnist --device cuda --epochs 20 --compile
    python3 pytorch_mlp.py --data data/mnist --device cuda --out pytorch.json

Prints ONE JSON object on stdout at the end; progress goes to stderr. With --out PATH the same
object is also written to PATH (atomically: a temporary file, then a rename) after setup, after
every epoch and after every evaluation, with "status": "running" until the end ("done" or
"failed"), so a run that is cut off still leaves every phase it finished. Needs only torch (no
numpy).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import struct
import sys
import time
import traceback

import torch
from torch import nn

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class JsonWriter:
    """Rewrites one JSON file atomically (write a sibling temporary file, then os.replace), so a
    reader, or a process killed mid-run, never sees a half-written file. No path: does nothing."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def write(self, result: dict) -> None:
        if not self.path:
            return
        temporary = f"{self.path}.tmp{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        os.replace(temporary, self.path)


def locate(data_dir: str, name: str) -> str:
    """The raw file, else name.gz (the same rule as MnistFiles.Locate)."""
    raw = os.path.join(data_dir, name)
    if os.path.isfile(raw):
        return raw
    gz = raw + ".gz"
    if os.path.isfile(gz):
        return gz
    raise FileNotFoundError(f"MNIST file {name} (or {name}.gz) not found in {os.path.abspath(data_dir)}")


def read_idx(path: str) -> tuple[tuple[int, ...], bytearray]:
    """Reads an unsigned-byte IDX file (raw or gzip): returns (dims, payload)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an IDX header")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08 or ndim < 1:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex()})")
    header = 4 + 4 * ndim
    dims = struct.unpack(">" + "I" * ndim, data[4:header])
    count = math.prod(dims)
    if len(data) - header != count:
        raise ValueError(f"{path}: header says {count} bytes of data, file has {len(data) - header}")
    return tuple(dims), bytearray(data[header:])


def load_split(data_dir: str, images_name: str, labels_name: str, device: torch.device):
    dims, pixels = read_idx(locate(data_dir, images_name))
    ldims, labels = read_idx(locate(data_dir, labels_name))
    if len(dims) != 3 or dims[1:] != (28, 28):
        raise ValueError(f"{images_name}: expected N x 28 x 28 images, got {dims}")
    if ldims != (dims[0],):
        raise ValueError(f"{labels_name}: {ldims[0]} labels for {dims[0]} images")
    x = torch.frombuffer(pixels, dtype=torch.uint8).reshape(dims[0], 28 * 28).to(device)
    y = torch.frombuffer(labels, dtype=torch.uint8).to(device=device, dtype=torch.long)
    return x, y


def split_validation(x: torch.Tensor, y: torch.Tensor, val_split: float, limit_train: int | None = None):
    """gpumlp's --limit-train and --val-split (TrainingOptions.ValidationCount): of the training
    file's first limit_train images (all of them when None), the last floor(count x val_split) are
    held out for validation. Returns (train_x, train_y, val_x, val_y), views of x and y."""
    available = x.shape[0] if limit_train is None else min(limit_train, x.shape[0])
    val_count = int(math.floor(available * val_split))
    train_count = available - val_count
    return x[:train_count], y[:train_count], x[train_count:available], y[train_count:available]


def build_model(seed: int, dropout: float, device: torch.device) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(512, 256), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(256, 10),
    ).to(device)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch: int = 1000):
    """Forward-only pass over (x, y): (accuracy, mean loss, samples/s)."""
    model.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    correct = torch.zeros((), dtype=torch.long, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    synchronize(device)
    start = time.perf_counter()
    with torch.no_grad():
        for first in range(0, x.shape[0], batch):
            xb = x[first:first + batch].float().div_(255.0)
            yb = y[first:first + batch]
            logits = model(xb)
            loss_sum += loss_fn(logits, yb).double()
            correct += (logits.argmax(dim=1) == yb).sum()
    synchronize(device)
    seconds = time.perf_counter() - start
    model.train()
    n = x.shape[0]
    return correct.item() / n, loss_sum.item() / n, n / seconds


def train(model: nn.Module, data: dict, args, device: torch.device, label: str, progress=lambda partial: None,
          transform=None, eval_batch: int = 1000, train_accuracy: bool = False) -> dict:
    """Trains `model` for args.epochs epochs; returns the per-epoch timings and final accuracies.
    `progress` receives a partial result ({"epochs": [...], "complete": False}) after every epoch.
    `transform` (optional) maps each gathered uint8 batch [B, 784] to another on the device (data
    augmentation), inside the timed steps; `eval_batch` is the rows per evaluation forward pass;
    with `train_accuracy` each epoch also records the accuracy of its training forward passes."""
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    train_x, train_y = data["train_x"], data["train_y"]
    n = train_x.shape[0]
    generator = torch.Generator(device=device)
    generator.manual_seed(args.seed)
    epochs = []
    model.train()
    for epoch in range(1, args.epochs + 1):
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        synchronize(device)
        start = time.perf_counter()
        order = torch.randperm(n, device=device, generator=generator)
        for first in range(0, n, args.batch_size):
            index = order[first:first + args.batch_size]
            xb = train_x[index]
            if transform is not None:
                xb = transform(xb)
            xb = xb.float().div_(255.0)
            yb = train_y[index]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach().double() * yb.shape[0]
            if train_accuracy:
                correct += (logits.detach().argmax(dim=1) == yb).sum()
        synchronize(device)
        seconds = time.perf_counter() - start
        record = {
            "epoch": epoch,
            "seconds": seconds,
            "samples_per_second": n / seconds,
            "train_loss": loss_sum.item() / n,
        }
        if train_accuracy:
            record["train_accuracy"] = correct.item() / n
        if data["val_x"].shape[0] > 0 and (epoch == args.epochs or args.validate_every_epoch):
            val_accuracy, val_loss, _ = evaluate(model, data["val_x"], data["val_y"], device, eval_batch)
            record["val_accuracy"] = val_accuracy
            record["val_loss"] = val_loss
        epochs.append(record)
        extra = ""
        if train_accuracy:
            extra = f", train accuracy {record['train_accuracy']:.4f}"
            if "val_accuracy" in record:
                extra += f", val loss {record['val_loss']:.4f}, val accuracy {record['val_accuracy']:.4f}"
        log(f"[{label}] epoch {epoch}/{args.epochs}: {seconds:.3f} s, {n / seconds:,.0f} samples/s, "
            f"train loss {record['train_loss']:.4f}{extra}")
        progress({"epochs": epochs, "epoch_seconds": [e["seconds"] for e in epochs], "complete": False, "error": None})

    test_accuracy, test_loss, eval_rate = evaluate(model, data["test_x"], data["test_y"], device, eval_batch)
    # A second, warm evaluation gives the steady-state forward-only throughput.
    _, _, eval_rate_warm = evaluate(model, data["test_x"], data["test_y"], device, eval_batch)
    seconds = [e["seconds"] for e in epochs]
    total = sum(seconds)
    steady = seconds[1:]
    log(f"[{label}] test accuracy {test_accuracy:.4%}, {n * len(seconds) / total:,.0f} samples/s overall")
    return {
        "epoch_seconds": seconds,
        "epochs": epochs,
        "train_seconds": total,
        "samples_per_second": n * len(seconds) / total,
        "samples_per_second_after_first_epoch": (n * len(steady) / sum(steady)) if steady else None,
        "median_epoch_samples_per_second": sorted(e["samples_per_second"] for e in epochs)[len(epochs) // 2],
        "first_epoch_seconds": seconds[0],
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "val_accuracy": epochs[-1].get("val_accuracy"),
        "eval_samples_per_second": max(eval_rate, eval_rate_warm),
        "complete": True,
        "error": None,
    }


def add_common_arguments(parser: argparse.ArgumentParser, dropout: float, validate_every_epoch_option: bool = True) -> None:
    """The options every reference script shares (pytorch_cnn.py too), in this script's order."""
    parser.add_argument("--data", default=os.path.join("data", "mnist"), help="folder with the four IDX files (raw or .gz)")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=dropout)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--val-split", type=float, default=0.1, help="fraction of the training file held out, from its end")
    parser.add_argument("--limit-train", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--compile", action="store_true", help="also train a torch.compile'd copy (if it works)")
    if validate_every_epoch_option:
        parser.add_argument("--validate-every-epoch", action="store_true", help="evaluate the validation split after every epoch")
    parser.add_argument("--out", default=None, help="also write the JSON to this file, rewritten after every epoch and evaluation")


def check_common_arguments(parser: argparse.ArgumentParser, args) -> None:
    if args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be at least 1")


def base_result(args, model: str) -> dict:
    """The JSON's header: versions, settings, machine (torch's thread count as set now)."""
    return {
        "device": args.device,
        "device_name": None,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "python_version": platform.python_version(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "model": model,
        "optimizer": f"Adam(lr={args.lr})",
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "seed": args.seed,
        "machine": {"processor_count": os.cpu_count(), "os": platform.platform(), "torch_threads": torch.get_num_threads()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": "running",
    }


def run(args, result: dict, build, train_options=lambda device: {}) -> int:
    """Writes the header, then measures; a failure is recorded in the JSON ("failed") and re-raised.
    `build(device)` returns a freshly seeded model; `train_options(device)` the extra keyword
    arguments of train() for one training run (called once per run)."""
    writer = JsonWriter(args.out)
    writer.write(result)
    try:
        return measure(args, result, writer, build, train_options)
    except Exception as error:  # noqa: BLE001 - recorded in the JSON, then re-raised
        result["status"] = "failed"
        result["error"] = f"{type(error).__name__}: {error}"
        writer.write(result)
        raise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, dropout=0.2)
    args = parser.parse_args()
    check_common_arguments(parser, args)
    result = base_result(args, f"784-512-256-10, ReLU, dropout {args.dropout:g}")
    return run(args, result, lambda device: build_model(args.seed, args.dropout, device))


def measure(args, result: dict, writer: JsonWriter, build, train_options) -> int:
    """Loads the data, trains eager (and compiled) models; rewrites the JSON after every phase."""
    if args.device == "cuda" and not torch.cuda.is_available():
        result["error"] = "torch.cuda.is_available() is False"
        result["status"] = "failed"
        writer.write(result)
        print(json.dumps(result, indent=2))
        return 1
    device = torch.device(args.device)
    result["device_name"] = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())

    train_x, train_y = load_split(args.data, FILES["train_images"], FILES["train_labels"], device)
    test_x, test_y = load_split(args.data, FILES["test_images"], FILES["test_labels"], device)
    train_x, train_y, val_x, val_y = split_validation(train_x, train_y, args.val_split, args.limit_train)
    train_count, val_count = train_x.shape[0], val_x.shape[0]
    data = {"train_x": train_x, "train_y": train_y, "val_x": val_x, "val_y": val_y, "test_x": test_x, "test_y": test_y}
    result.update(train_images=train_count, val_images=val_count, test_images=test_x.shape[0])
    log(f"{result['device_name']}: training on {train_count}, validating on {val_count}, testing on {test_x.shape[0]}")
    writer.write(result)

    def progress(label: str):
        def record(partial: dict) -> None:
            result[label] = partial
            writer.write(result)
        return record

    result["eager"] = train(build(device), data, args, device, "eager", progress("eager"), **train_options(device))
    writer.write(result)

    if args.compile:
        try:
            model = build(device)
            compiled = torch.compile(model)
            result["compiled"] = train(compiled, data, args, device, "compiled", progress("compiled"), **train_options(device))
            result["compiled"]["note"] = "torch.compile(model), default mode; epoch 1 includes compilation"
        except Exception as error:  # noqa: BLE001 - any compile/inductor failure is reported, not fatal
            log(traceback.format_exc())
            result["compiled"] = {"error": f"{type(error).__name__}: {error}"}
    else:
        result["compiled"] = None

    result["status"] = "done"
    writer.write(result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
