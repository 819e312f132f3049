"""Writes the MNIST IDX files of a folder in the other layouts `gpumlp --data` reads, the same
images in the same order: a Kaggle CSV folder (train.csv and test.csv, both with labels), an
EMNIST-style IDX folder stored transposed (read with --idx-transposed) and a PNG image folder
(train/<digit>/NNNNN.png and test/<digit>/NNNNN.png, 8-bit gray).

Usage: python3 write_formats.py MNIST_DIR OUT_DIR [TRAIN_COUNT]
"""
import os
import struct
import sys

import numpy as np
from PIL import Image


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    zero, dtype, rank = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08, path
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def write_idx(path, array):
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_csv(path, images, labels):
    flat = images.reshape(len(images), -1)
    header = "label," + ",".join(f"pixel{i}" for i in range(flat.shape[1]))
    rows = np.concatenate([labels[:, None], flat], axis=1)
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=header, comments="")


def main():
    mnist, out = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
    splits = {
        "train": (read_idx(os.path.join(mnist, "train-images-idx3-ubyte")), read_idx(os.path.join(mnist, "train-labels-idx1-ubyte"))),
        "test": (read_idx(os.path.join(mnist, "t10k-images-idx3-ubyte")), read_idx(os.path.join(mnist, "t10k-labels-idx1-ubyte"))),
    }
    if limit is not None:
        images, labels = splits["train"]
        splits["train"] = (images[:limit], labels[:limit])
    for folder in ("csv", "emnist", "png"):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
    for split, (images, labels) in splits.items():
        write_csv(os.path.join(out, "csv", f"{split}.csv"), images, labels)
        write_idx(os.path.join(out, "emnist", f"emnist-digits-{split}-images-idx3-ubyte"), images.transpose(0, 2, 1))
        write_idx(os.path.join(out, "emnist", f"emnist-digits-{split}-labels-idx1-ubyte"), labels)
        for i, (image, label) in enumerate(zip(images, labels)):
            folder = os.path.join(out, "png", split, str(label))
            os.makedirs(folder, exist_ok=True)
            Image.fromarray(image, mode="L").save(os.path.join(folder, f"{i:05d}.png"))
    print(f"wrote {len(splits['train'][0])} training and {len(splits['test'][0])} test images as csv/, emnist/ (transposed) and png/ under {out}")


if __name__ == "__main__":
    main()
