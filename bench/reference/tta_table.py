#!/usr/bin/env python3
"""Reads a time-to-accuracy folder (bench/reference/time-to-accuracy.sh OUT) and renders its tables.

The one reader of the per-run files, for time-to-accuracy.sh's summary.md and for the GPU bundle's
summary (scripts/bundle-summary.py, whose step writes the same folder as recipe/). It copes with a
folder cut off part-way, since the bundle reads it while runs are going on or after a step limit
ended them:
  recipe.txt                     "key: value" lines: recipe, target, seeds, device, torch.compile
  gpumlp-seed-S/metrics.json     a finished gpumlp run (its "target" record); missing: the run was
                                 cut off, and history.csv's rows say how many epochs it finished
  torch-seed-S-tT-VARIANT.json   a PyTorch run (pytorch_recipe.py --out), rewritten after every
                                 epoch: "status" done, failed (with "error") or running
  torch-seed-S-tT-VARIANT.log    its stderr; a .log without its .json: the run failed before it
                                 wrote one (the status quotes the log's last line)
Standard library only (the bundle's summary runs under any python3).

Usage: python3 tta_table.py OUT > OUT/summary.md
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from dataclasses import dataclass


@dataclass
class RunRow:
    """One run of the recipe, gpumlp's or PyTorch's. status: "reached", "not reached in N epochs",
    "unfinished: ..." or "failed: ..." (for a Markdown cell: any "|" escaped). The figures are None
    unless the run finished (status reached or not reached); train and since_start are None unless
    it reached the target."""
    seed: str
    side: str  # "gpumlp" or "PyTorch"
    configuration: str
    status: str
    reached_epoch: int | None = None
    train: float | None = None
    since_start: float | None = None
    test: float | None = None

    @property
    def finished(self) -> bool:
        return self.status == "reached" or self.status.startswith("not reached")


@dataclass
class RecipeRuns:
    """A time-to-accuracy folder: its recipe.txt settings and, per seed, the gpumlp run and the
    PyTorch runs (eager before torch.compile, then by name)."""
    settings: dict[str, str]
    runs: list[tuple[RunRow, list[RunRow]]]

    @property
    def target(self) -> float | None:
        return _float(self.settings.get("target"))

    @property
    def seeds(self) -> list[str]:
        return self.settings.get("seeds", "").split()


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _read_json(path: str):
    text = _read_text(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read_settings(folder: str) -> dict[str, str]:
    """recipe.txt's "key: value" lines; empty when the file is missing."""
    settings = {}
    for line in (_read_text(os.path.join(folder, "recipe.txt")) or "").splitlines():
        key, _, value = line.partition(": ")
        settings[key] = value
    return settings


def gpumlp_run(folder: str, seed: str) -> RunRow:
    """gpumlp-seed-S: metrics.json once it finished, else history.csv's epochs."""
    run = os.path.join(folder, f"gpumlp-seed-{seed}")
    row = RunRow(seed, "gpumlp", "?", "not run")
    metrics = _read_json(os.path.join(run, "metrics.json"))
    if metrics:
        target = metrics.get("target") or {}
        reached = target.get("reached_epoch")
        row.configuration = metrics.get("device") or "?"
        row.reached_epoch = reached
        row.train, row.since_start = target.get("train_seconds"), target.get("since_start_seconds")
        row.test = (metrics.get("test") or {}).get("accuracy")
        row.status = "reached" if reached is not None else f"not reached in {len(metrics.get('epochs') or [])} epochs"
        return row
    history = _read_text(os.path.join(run, "history.csv"))
    if history is not None:
        row.status = f"unfinished: {max(len(history.strip().splitlines()) - 1, 0)} epochs in history.csv"
    return row


def torch_runs(folder: str, seed: str) -> list[RunRow]:
    """seed's PyTorch runs, torch-seed-S-tT-VARIANT.json (or its .log alone: failed before the
    JSON), eager before torch.compile, then by name."""
    prefix = f"torch-seed-{seed}-"
    names = sorted({os.path.splitext(n)[0] for n in (os.listdir(folder) if os.path.isdir(folder) else [])
                    if n.startswith(prefix) and n.endswith((".json", ".log"))},
                   key=lambda n: (n.endswith("-compile"), n))
    rows = []
    for name in names:
        variant = "torch.compile" if name.endswith("-compile") else "eager"
        row = RunRow(seed, "PyTorch", name.removeprefix(prefix), "?")
        data = _read_json(os.path.join(folder, name + ".json"))
        if not data:
            log = [line for line in (_read_text(os.path.join(folder, name + ".log")) or "").splitlines() if line.strip()]
            row.status = "failed: " + (log[-1][:160] if log else "no JSON, empty log")
        else:
            row.configuration = f"torch {data.get('torch_version', '?')}, {data.get('torch_threads', '?')} threads, {variant}"
            target = data.get("target") or {}
            epochs = data.get("epochs") or []
            status = data.get("status")
            if status == "done":
                reached = target.get("reached_epoch")
                row.reached_epoch = reached
                row.train, row.since_start = target.get("train_seconds"), target.get("since_start_seconds")
                row.test = data.get("test_accuracy")
                row.status = "reached" if reached is not None else f"not reached in {len(epochs)} epochs"
            elif status == "failed":
                row.status = f"failed: {data.get('error') or '?'}"
            else:
                row.status = f"unfinished: {len(epochs)} epochs written (cut off or still running)"
        row.status = row.status.replace("|", "\\|")
        rows.append(row)
    return rows


def read_runs(folder: str) -> RecipeRuns:
    """Every run of recipe.txt's seeds, as far as the folder holds them."""
    settings = read_settings(folder)
    runs = [(gpumlp_run(folder, seed), torch_runs(folder, seed)) for seed in settings.get("seeds", "").split()]
    return RecipeRuns(settings, runs)


def ratios(ours: RunRow, theirs: RunRow) -> tuple[float, float] | None:
    """gpumlp / PyTorch on the train and the since-start clock; None unless both reached the target."""
    if None in (ours.train, theirs.train, ours.since_start, theirs.since_start):
        return None
    return ours.train / theirs.train, ours.since_start / theirs.since_start


def per_run_table(recipe: RecipeRuns) -> list[str]:
    """The bundle's table: one row per run with its status, each PyTorch run with its ratios to
    that seed's gpumlp run, then per PyTorch configuration the median ratio over the seeds (when
    any configuration has two or more). Missing figures: n/a."""
    def number(value, digits: int) -> str:
        return "n/a" if value is None else f"{value:,.{digits}f}"

    def percent(value) -> str:
        return "n/a" if value is None else f"{value:.2%}"

    def epoch(row: RunRow) -> str:
        return "" if row.reached_epoch is None else str(row.reached_epoch)

    lines = ["| seed | side | configuration | status | reached after epoch | train s | since start s | test accuracy "
             "| ratio (train) | ratio (since start) |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    by_configuration: dict[str, list[tuple[float, float]]] = {}  # per PyTorch configuration, one pair per seed
    for ours, theirs_all in recipe.runs:
        lines.append(f"| {ours.seed} | gpumlp | {ours.configuration} | {ours.status} | {epoch(ours)} | "
                     f"{number(ours.train, 2)} | {number(ours.since_start, 2)} | {percent(ours.test)} | | |")
        for theirs in theirs_all:
            pair = ratios(ours, theirs)
            if pair:
                by_configuration.setdefault(theirs.configuration, []).append(pair)
            lines.append(f"| {theirs.seed} | PyTorch | {theirs.configuration} | {theirs.status} | {epoch(theirs)} | "
                         f"{number(theirs.train, 2)} | {number(theirs.since_start, 2)} | {percent(theirs.test)} | "
                         f"{'' if pair is None else f'**{pair[0]:.2f}**'} | {'' if pair is None else f'**{pair[1]:.2f}**'} |")
    lines.append("")
    if any(len(pairs) > 1 for pairs in by_configuration.values()):
        for configuration, pairs in by_configuration.items():
            lines.append(f"- median ratio against PyTorch ({configuration}) over {len(pairs)} seeds: "
                         f"{statistics.median(p[0] for p in pairs):.2f} (train), "
                         f"{statistics.median(p[1] for p in pairs):.2f} (since start)")
        lines.append("")
    return lines


def summary_markdown(folder: str) -> str:
    """time-to-accuracy.sh's summary.md: the recipe and machine, one row per run, then per seed
    the gpumlp run against PyTorch's fastest configuration and the median ratios. Missing
    figures: —; a run that did not finish names its status where the epoch would be."""
    def fmt(value, pattern: str) -> str:
        return "—" if value is None else pattern.format(value)

    def epoch_or_status(row: RunRow) -> str:
        return fmt(row.reached_epoch, "{}") if row.finished else row.status

    recipe = read_runs(folder)
    target = recipe.target
    lines = [f"# Time to {fmt(target, '{:.1%}')} validation accuracy, gpumlp and PyTorch side by side", "",
             f"Recipe (both sides): `{recipe.settings.get('recipe', '?').strip()}`", "",
             (_read_text(os.path.join(folder, "machine.txt")) or "").strip().replace("\n", "  \n") + " ", "",
             "| seed | side | configuration | reached after epoch | train s | since start s | test accuracy |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    fastest: list[tuple[RunRow, RunRow | None]] = []
    for ours, theirs_all in recipe.runs:
        for row in [ours, *theirs_all]:
            lines.append(f"| {row.seed} | {row.side} | {row.configuration} | {epoch_or_status(row)} | {fmt(row.train, '{:.2f}')} | "
                         f"{fmt(row.since_start, '{:.2f}')} | {fmt(row.test, '{:.2%}')} |")
        reached = [r for r in theirs_all if r.train is not None]
        fastest.append((ours, min(reached, key=lambda r: (r.train, r.since_start, r.configuration)) if reached else None))
    lines += ["", "Per seed, PyTorch's fastest configuration; ratio = gpumlp / PyTorch (below 1: gpumlp reaches the target sooner).", "",
              "| seed | gpumlp train s | PyTorch train s | ratio (train) | gpumlp since start s | PyTorch since start s | ratio (since start) |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    ratios_train, ratios_start = [], []
    for ours, theirs in fastest:
        pair = None if theirs is None else ratios(ours, theirs)
        if pair is None:
            lines.append(f"| {ours.seed} | {fmt(ours.train, '{:.2f}')} | {fmt(theirs.train if theirs else None, '{:.2f}')} "
                         "| not both reached | | | |")
            continue
        ratios_train.append(pair[0])
        ratios_start.append(pair[1])
        lines.append(f"| {ours.seed} | {ours.train:.2f} | {theirs.train:.2f} ({theirs.configuration}) | {pair[0]:.2f} | "
                     f"{ours.since_start:.2f} | {theirs.since_start:.2f} | {pair[1]:.2f} |")
    if ratios_train:
        lines += ["", f"Median ratio over {len(ratios_train)} seeds: **{statistics.median(ratios_train):.2f}** (train), "
                  f"**{statistics.median(ratios_start):.2f}** (since start); range {min(ratios_train):.2f}–{max(ratios_train):.2f} "
                  f"and {min(ratios_start):.2f}–{max(ratios_start):.2f}."]
    lines += ["", "Commands and the load before each run: `runs.log`."]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(summary_markdown(sys.argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
