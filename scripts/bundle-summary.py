#!/usr/bin/env python3
"""Writes the device check's summary.md (Markdown, on stdout) from the runner's work folder.

Shipped in the device bundle as .bundle/summarize.py; .bundle/run-on-gpu.sh runs it after every
step, so it must cope with any step missing, running, cut off or failed: every section says what
it found and never raises on partial files. Reads (all optional): runner.tsv, steps.tsv, gpu.csv,
smi.log, devices.log, tests.log / tests.xml, gemm32.log / gemm32.xml, run-<device>/metrics.json and
run-cnn-<device>/metrics.json (or history.csv while a run is unfinished), bench.json, bench-cnn.json,
pytorch.json, pytorch-cnn.json, recipe/ (time-to-accuracy.sh's recipe.txt, gpumlp-seed-S/metrics.json
or history.csv, torch-seed-S-*.json and .log, read by time-to-accuracy.sh's tta_table.py, bundled as
reference/tta_table.py), bdn/results/gpumlp-rates.md, left-out.txt. Standard library only.

Usage: python3 summarize.py WORK_DIR > summary.md
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

MAX_FAILURES_LISTED = 40

# Where time-to-accuracy.sh's tta_table.py lies, relative to this script: beside it in the bundle
# (reference/, as summarize.py), in the repository bench/reference (as scripts/bundle-summary.py).
TTA_TABLE_FOLDERS = ("reference", os.path.join("..", "bench", "reference"))


def import_tta_table():
    """The tta_table module (the reader of time-to-accuracy.sh's per-run files), or None where
    neither folder holds it, so the other sections are still written."""
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in TTA_TABLE_FOLDERS:
        path = os.path.join(here, folder)
        if os.path.isfile(os.path.join(path, "tta_table.py")):
            if path not in sys.path:
                sys.path.insert(0, path)
            import tta_table  # noqa: PLC0415 - found only now, beside this script
            return tta_table
    return None


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def read_json(path: str):
    text = read_text(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def read_tsv(path: str) -> list[dict]:
    text = read_text(path)
    if not text:
        return []
    return list(csv.DictReader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))


def number(value, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def percent(value) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


class Summary:
    def __init__(self, work: str) -> None:
        self.work = work
        self.lines: list[str] = []
        self.runner = self.key_values(os.path.join(work, "runner.tsv"))
        self.steps = read_tsv(os.path.join(work, "steps.tsv"))
        self.device = self.runner.get("device", "cuda")

    @staticmethod
    def key_values(path: str) -> dict:
        text = read_text(path) or ""
        pairs = (line.split("\t", 1) for line in text.splitlines() if "\t" in line)
        return {key: value for key, value in pairs}

    def path(self, *parts: str) -> str:
        return os.path.join(self.work, *parts)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def step(self, name: str) -> dict:
        return next((s for s in self.steps if s.get("step") == name), {})

    def step_note(self, name: str) -> str:
        s = self.step(name)
        status = s.get("status") or "not run"
        took = f", {s['seconds']} s" if s.get("seconds") else ""
        extra = f": {s['detail']}" if s.get("detail") else ""
        return f"step `{name}`: {status}{took}{extra}"

    # --- sections ------------------------------------------------------------------------------
    def header(self) -> None:
        r = self.runner
        self.add("# GpuMlp device check", "")
        self.add(f"- state: **{r.get('state', 'unknown')}**, {r.get('elapsed_s', '?')} s of the "
                 f"{r.get('budget_s', '?')} s budget; started {r.get('started_utc', '?')}; host {r.get('host', '?')}")
        in_flight = [s.get("step") for s in self.steps if s.get("status") == "running"]
        if r.get("state") == "running" and in_flight:
            self.add(f"- step in flight: `{in_flight[0]}` (if this is the file that came back, the run was cut off during it)")
        self.add(f"- device: `{self.device}` (tests, train, bench, cnn); PyTorch on `{r.get('pytorch_device', '?')}`; "
                 f"{r.get('epochs', '20')} epochs (MLP), {r.get('cnn_epochs', '20')} epochs (CNN)"
                 + (f", --limit-train {r['limit_train']}" if r.get("limit_train") else ""))
        gpu = self.gpu()
        self.add(f"- GPU: {gpu}", "")

    def gpu(self) -> str:
        text = read_text(self.path("gpu.csv"))
        if text:
            rows = list(csv.reader(text.splitlines()))
            if len(rows) >= 2:
                header = [h.strip() for h in rows[0]]
                described = []
                for row in rows[1:]:
                    fields = dict(zip(header, (v.strip() for v in row)))
                    described.append(
                        f"**{fields.get('name', '?')}**, driver {fields.get('driver_version', '?')}, "
                        f"{fields.get('memory.total [MiB]', '?').removesuffix(' MiB')} MiB"
                        + (f", compute capability {fields['compute_cap']}" if fields.get("compute_cap") else ""))
                return "; ".join(described)
        return f"not known ({self.step_note('smi')})"

    def steps_table(self) -> None:
        self.add("## Steps", "", "| # | step | status | seconds | limit s | what | detail |", "| ---: | --- | --- | ---: | ---: | --- | --- |")
        for i, s in enumerate(self.steps, 1):
            detail = (s.get("detail") or "").replace("|", "\\|")
            self.add(f"| {i} | {s.get('step')} | {s.get('status')} | {s.get('seconds') or ''} | {s.get('limit')} | "
                     f"{s.get('what')} | {detail} |")
        self.add("")

    def tests(self, name: str, title: str, args_key: str) -> None:
        self.add(f"## {title}", "")
        if self.runner.get(args_key):
            self.add(f"Runner arguments: `{self.runner[args_key]}`", "")
        log = read_text(self.path(f"{name}.log"))
        if log is None:
            self.add(f"No results ({self.step_note(name)}).", "")
            return
        totals = self.test_totals(name, log)
        failing = totals.pop("failing")
        running = totals.pop("running")
        source = totals.pop("source")
        if source == "cut off":
            self.add(f"Cut off before the end ({self.step_note(name)}): **{totals['finished']} tests finished**, "
                     f"{totals['failed']} of them failed; the totals below count finished tests only.")
        self.add(f"**passed {totals['passed']}, failed {totals['failed']}, skipped {totals['skipped']}**"
                 + (f", not run {totals['not_run']}" if totals.get("not_run") else "")
                 + (f" (total {totals['total']}" + (f", {totals['time']} s)" if totals.get("time") else ")") if totals.get("total") is not None else "")
                 + f"; {self.step_note(name)}", "")
        if failing:
            self.add("Failing tests:", "")
            for test in failing[:MAX_FAILURES_LISTED]:
                self.add(f"- `{test}`")
            if len(failing) > MAX_FAILURES_LISTED:
                self.add(f"- ... and {len(failing) - MAX_FAILURES_LISTED} more (see {name}.log in results.tar.gz)")
            self.add("")
        if running:
            self.add("Still running when the step ended:", "")
            for test in running[:MAX_FAILURES_LISTED]:
                self.add(f"- `{test}`")
            self.add("")

    def test_totals(self, name: str, log: str) -> dict:
        """Totals from the xunit XML if the run finished, else from the verbose console log."""
        root = None
        try:
            root = ET.parse(self.path(f"{name}.xml")).getroot()
        except (OSError, ET.ParseError):
            pass
        if root is not None:
            assemblies = root.findall("assembly")
            total = sum(int(a.get("total", 0)) for a in assemblies)
            failed = sum(int(a.get("failed", 0)) for a in assemblies)
            errors = sum(int(a.get("errors", 0)) for a in assemblies)
            failing = [t.get("name", "?") for t in root.iter("test") if t.get("result") == "Fail"]
            failing += [f"(error) {e.get('name') or e.get('type', '?')}" for e in root.iter("error")]
            return {
                "total": total,
                "passed": sum(int(a.get("passed", 0)) for a in assemblies),
                "failed": failed + errors,
                "skipped": sum(int(a.get("skipped", 0)) for a in assemblies),
                "not_run": sum(int(a.get("not-run", 0)) for a in assemblies),
                "time": sum(float(a.get("time", 0) or 0) for a in assemblies),
                "failing": failing,
                "running": [],
                "source": "xml",
            }
        # No XML: the run was cut off (or crashed). Count the verbose reporter's lines.
        started = re.findall(r"^\s+(\S.*?) \[STARTING\]\s*$", log, re.M)
        finished = re.findall(r"^\s+(\S.*?) \[FINISHED\]", log, re.M)
        failing = re.findall(r"^\s+(\S.*?) \[FAIL\]\s*$", log, re.M)
        skipped = re.findall(r"^\s+(\S.*?) \[SKIP\]\s*$", log, re.M)
        summary = re.search(r"Total: (\d+), Errors: (\d+), Failed: (\d+), Skipped: (\d+), Not Run: (\d+), Time: ([\d.]+)s", log)
        if summary:
            total, errors, failed, skip, not_run, seconds = summary.groups()
            return {
                "total": int(total), "passed": int(total) - int(failed) - int(skip) - int(not_run),
                "failed": int(failed) + int(errors), "skipped": int(skip), "not_run": int(not_run),
                "time": float(seconds), "failing": sorted(set(failing)), "running": [], "source": "log",
            }
        done = set(finished)
        unique_failing = sorted(set(failing))
        return {
            "total": None, "finished": len(done), "passed": len(done) - len(set(failing) & done) - len(set(skipped)),
            "failed": len(unique_failing), "skipped": len(set(skipped)), "not_run": 0,
            "failing": unique_failing, "running": [t for t in dict.fromkeys(started) if t not in done],
            "source": "cut off",
        }

    def train(self, step: str = "train", title: str | None = None, folder: str | None = None) -> dict | None:
        """A `gpumlp train` run's section: the default run (step train, run-<device>) or the CNN
        preset's (step cnn, run-cnn-<device>); returns its median epoch samples/s."""
        self.add(title or f"## Default run: `gpumlp train --device {self.device}`", "")
        run = self.path(folder or f"run-{self.device}")
        metrics = read_json(os.path.join(run, "metrics.json"))
        epochs = None
        if metrics:
            epochs = metrics.get("epochs") or []
            test = metrics.get("test") or {}
            timing = metrics.get("timing") or {}
            self.add(f"{metrics.get('device')}: **test accuracy {percent(test.get('accuracy'))}**, macro F1 "
                     f"{percent(test.get('macro_f1'))}, test loss {number(test.get('loss'), 4)}; {len(epochs)} epochs; "
                     f"kernel compile {number(timing.get('compile_seconds'), 2)} s, training {number(timing.get('train_seconds'), 1)} s; "
                     f"{self.step_note(step)}.", "")
        else:
            history = read_text(os.path.join(run, "history.csv"))
            if history:
                epochs = [{k: self.to_float(v) for k, v in row.items()} for row in csv.DictReader(history.splitlines())]
                self.add(f"No metrics.json (the run did not finish): {len(epochs)} epochs from history.csv; "
                         f"{self.step_note(step)}.", "")
            else:
                self.add(f"No results ({self.step_note(step)}).", "")
                return None
        if epochs:
            rates = [e.get("samples_per_second") for e in epochs]
            self.add(f"Samples/s per epoch: median **{number(median(rates))}**, after epoch 1 "
                     f"{number(median(rates[1:]))}.", "")
            self.add("| epoch | seconds | samples/s | train loss | val accuracy |", "| ---: | ---: | ---: | ---: | ---: |")
            for e in epochs:
                self.add(f"| {int(e.get('epoch') or 0)} | {number(e.get('seconds'), 3)} | {number(e.get('samples_per_second'))} | "
                         f"{number(e.get('train_loss'), 4)} | {percent(e.get('val_accuracy'))} |")
            self.add("")
        return {"median_rate": median([e.get("samples_per_second") for e in epochs or []])}

    @staticmethod
    def to_float(value):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None

    def bench(self, step: str = "bench", title: str | None = None, file: str = "bench.json") -> float | None:
        """`gpumlp bench`'s section: the MLP (step bench, bench.json) or the CNN preset (step
        bench-cnn, bench-cnn.json); returns the first device's median training samples/s."""
        self.add(title or f"## `gpumlp bench --device {self.device}`", "")
        data = read_json(self.path(file))
        if not data:
            self.add(f"No results ({self.step_note(step)}).", "")
            return None
        self.add("| device | GEMM variant | batch | steps × repeats | compile s | train samples/s (median) | eval images | eval samples/s (median) |",
                 "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |")
        rate = None
        for r in data.get("results", []):
            if r.get("error"):
                self.add(f"| {r.get('device')} | FAILED: {r['error']} | | | | | | |")
                continue
            self.add(f"| {r.get('device')} | {r.get('gemm_variant')} | {r.get('batch_size')} | {r.get('steps')} × {r.get('repeats')} | "
                     f"{number(r.get('compile_seconds'), 2)} | {number(r.get('train_samples_per_second'))} | "
                     f"{number(r.get('eval_samples'))} | {number(r.get('eval_samples_per_second'))} |")
            rate = rate or r.get("train_samples_per_second")
        self.add("", f"{self.step_note(step)}.", "")
        return rate

    def pytorch(self, step: str = "pytorch", title: str | None = None, file: str = "pytorch.json") -> float | None:
        """A reference script's section: pytorch_mlp.py (step pytorch, pytorch.json) or
        pytorch_cnn.py (step pytorch-cnn, pytorch-cnn.json); returns its median epoch samples/s."""
        self.add(title or "## PyTorch eager reference (same model, batch 128, data resident on the device)", "")
        data = read_json(self.path(file))
        if not data:
            self.add(f"No results ({self.step_note(step)}).", "")
            return None
        self.add(f"{data.get('device_name')} ({data.get('device')}), torch {data.get('torch_version')}, CUDA {data.get('cuda_version')}, "
                 f"TF32 matmul {data.get('cuda_matmul_allow_tf32')}"
                 + (f"; ±{data['augment_shift']}-pixel shifts" if data.get("augment_shift") is not None else "")
                 + f"; status **{data.get('status')}**"
                 + (f", error: {data['error']}" if data.get("error") else "") + f"; {self.step_note(step)}.", "")
        eager = data.get("eager") or {}
        epochs = eager.get("epochs") or []
        rates = [e.get("samples_per_second") for e in epochs]
        rate = median(rates)  # the same median as the gpumlp side (the JSON's field takes the upper one)
        if epochs:
            seconds = ", ".join(f"{e.get('seconds', 0):.3f}" for e in epochs)
            self.add(f"Eager: {len(epochs)} of {data.get('epochs')} epochs" + ("" if eager.get("complete") else " (unfinished)")
                     + f"; samples/s per epoch: median **{number(rate)}**, after epoch 1 {number(median(rates[1:]))}; "
                     f"test accuracy {percent(eager.get('test_accuracy'))}; eval {number(eager.get('eval_samples_per_second'))} samples/s.", "",
                     f"Epoch seconds: {seconds}", "")
        return rate

    def ratio(self, train: dict | None, torch_rate: float | None, cnn: dict | None = None, torch_cnn_rate: float | None = None) -> None:
        """Like against like only: both sides' median full-epoch TRAINING rate (samples/s over the
        training steps of an epoch, validation excluded on both sides). `gpumlp bench` measures warm
        steps, which PyTorch's script does not, so its rates stay in their own sections."""
        self.add("## gpumlp / PyTorch throughput", "")
        rows = []
        gpumlp_rate = (train or {}).get("median_rate")
        cnn_rate = (cnn or {}).get("median_rate")
        if gpumlp_rate and torch_rate:
            rows.append(("default run, median epoch training samples/s", gpumlp_rate, torch_rate))
        if cnn_rate and torch_cnn_rate:
            rows.append(("CNN run (`--arch cnn`), median epoch training samples/s", cnn_rate, torch_cnn_rate))
        if not rows:
            self.add(f"Not available (gpumlp: {number(gpumlp_rate)}, PyTorch: {number(torch_rate)} samples/s; "
                     f"CNN gpumlp: {number(cnn_rate)}, PyTorch: {number(torch_cnn_rate)} samples/s).", "")
            return
        self.add("Both sides: the median over epochs of the training rate (validation excluded), same model, data and batch.", "")
        self.add("| measure | gpumlp | PyTorch eager | gpumlp / PyTorch |", "| --- | ---: | ---: | ---: |")
        for what, ours, theirs in rows:
            self.add(f"| {what} | {number(ours)} | {number(theirs)} | **{ours / theirs:.2f}** |")
        self.add("")

    def recipe(self) -> None:
        """Time to accuracy (step recipe): time-to-accuracy.sh's per-run files, read by its
        tta_table.py one by one, so a step cut off part-way still shows every run that finished (its
        own summary.md is written only at the end). Ratio = gpumlp / that PyTorch run, on each clock."""
        self.add("## Time to accuracy: gpumlp and PyTorch, the same recipe", "")
        tta_table = import_tta_table()
        if tta_table is None:
            self.add(f"Not summarized: tta_table.py is in neither {' nor '.join(TTA_TABLE_FOLDERS)} ({self.step_note('recipe')}).", "")
            return
        recipe = tta_table.read_runs(self.path("recipe"))
        if not recipe.settings:
            self.add(f"No results ({self.step_note('recipe')}).", "")
            return
        settings = recipe.settings
        self.add(f"Recipe (both sides): `{settings.get('recipe', '?')}`", "",
                 f"Target **{percent(recipe.target)}** validation accuracy (the held-out split, checked after "
                 f"every epoch); device `{settings.get('device', '?')}`; seeds {', '.join(recipe.seeds) or '?'}; torch.compile "
                 f"{'on' if settings.get('torch.compile') == '1' else 'off'}; {self.step_note('recipe')}.", "",
                 "train s: first step to the end of the check that reached the target; since start s: process start to "
                 "the same moment. Ratio = gpumlp / PyTorch (below 1: gpumlp reaches the target sooner).", "")
        self.add(*tta_table.per_run_table(recipe))
        self.add("Commands, loads and logs: `recipe/` in results.tar.gz (`runs.log`, `machine.txt`, `summary.md` once "
                 "every run finished).", "")

    def devices(self) -> None:
        text = read_text(self.path("devices.log"))
        self.add("## `gpumlp devices`", "")
        if text:
            self.add("```text", *text.strip().splitlines()[:20], "```", "")
        else:
            self.add(f"No output ({self.step_note('devices')}).", "")

    def bdn(self) -> None:
        self.add(f"## BenchmarkDotNet `--quick --device {self.device} {self.runner.get('bdn_args', '')}`", "")
        rates = read_text(self.path("bdn", "results", "gpumlp-rates.md"))
        if rates:
            self.add(*rates.strip().splitlines()[:60], "")
        self.add(f"{self.step_note('bdn-gemm')}.", "")

    def files(self) -> None:
        self.add("## results.tar.gz", "")
        self.add("Logs (`STEP.log`), `runner.log`, `steps.tsv`, `run-*/` (`run-cnn-*/` for the CNN), `bench.json`, "
                 "`bench-cnn.json`, `pytorch.json`, `pytorch-cnn.json`, `recipe/` (time to accuracy), `tests.xml`, "
                 "`gemm32.xml`, `bdn/` as far as their steps ran.")
        left_out = read_text(self.path("left-out.txt"))
        if left_out:
            self.add("", "Left out (over 4 MiB, bytes and path):", "", "```text", *left_out.strip().splitlines(), "```")
        self.add("")

    def render(self) -> str:
        self.header()
        self.steps_table()
        self.tests("tests", f"Tests (GPUMLP_TEST_DEVICE={self.device})", "test_args")
        train = self.train()
        self.bench()
        torch_rate = self.pytorch()
        cnn = self.train("cnn", f"## CNN run: `gpumlp train --arch cnn --device {self.device}`", f"run-cnn-{self.device}")
        torch_cnn_rate = self.pytorch(
            "pytorch-cnn", "## PyTorch eager CNN reference (same network and shifts, batch 128, data resident on the device)",
            "pytorch-cnn.json")
        self.bench("bench-cnn", f"## `gpumlp bench --arch cnn --device {self.device}`", "bench-cnn.json")
        self.ratio(train, torch_rate, cnn, torch_cnn_rate)
        self.recipe()
        self.devices()
        self.tests("gemm32", f"GEMM tests with GPUMLP_GEMM_BLOCK=32 (GPUMLP_TEST_DEVICE={self.device})", "gemm32_test_args")
        self.bdn()
        self.files()
        return "\n".join(self.lines)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(Summary(sys.argv[1]).render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
