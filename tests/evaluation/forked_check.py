"""Run in a fresh (single-threaded) interpreter by test_forked.py: the forked paths of
Evaluator.compute and write_plots give what the in-process paths give. Prints one JSON line."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import tqdm

tqdm.tqdm.monitor_interval = 0  # as the CLI sets it: no monitor thread, so the process may fork

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for tests/

from tests.evaluation.helpers import COCO128, perfect, random_boxes  # noqa: E402
from yoloxkit.datasets.coco import to_coco_dict  # noqa: E402
from yoloxkit.datasets.load import load_dataset  # noqa: E402
from yoloxkit.evaluation import Evaluator, forked, load_ground_truth  # noqa: E402
from yoloxkit.evaluation import evaluator as evaluator_module  # noqa: E402
from yoloxkit.evaluation import plots  # noqa: E402

forks = 0
real_fork = os.fork


def counting_fork() -> int:
    global forks
    pid = real_fork()
    if pid:
        forks += 1
    return pid


os.fork = counting_fork
dataset = load_dataset(COCO128)
coco, rng = to_coco_dict(dataset, dataset.splits["val"]), np.random.default_rng(0)
results = perfect(coco, rng)[::2] + random_boxes(coco, rng, per_image=20)  # half the objects found, and noise
runs = []
for threshold in (0, 10**12):  # forked, then in-process
    evaluator_module.PARALLEL_MIN_DETECTIONS = threshold
    evaluator = Evaluator(load_ground_truth(dataset, "val"), resamples=20)
    evaluator.update_results(results)
    runs.append(evaluator.compute())
a, b = runs
same = {
    "precision": bool(np.array_equal(a.precision, b.precision)),
    "recall": bool(np.array_equal(a.recall, b.recall)),
    "coco": a.coco == b.coco and a.coco["AP"] > 0,
    "per_class": all(np.array_equal(a.per_class[k], b.per_class[k], equal_nan=True) for k in b.per_class),
    "thresholds": json.dumps(a.operating.to_dict()) == json.dumps(b.operating.to_dict()),  # NaN-safe
}
with tempfile.TemporaryDirectory() as folder:
    for fork_classes, name in ((0, "forked"), (10**9, "here")):
        plots.FORK_CLASSES = fork_classes
        plots.write_plots(b, Path(folder) / name)
    same["plots"] = all((Path(folder) / "forked" / f).read_bytes() == (Path(folder) / "here" / f).read_bytes() for f in plots.PLOTS)
print(json.dumps({"same": same, "forks": forks, "cpus": forked.usable_cpus()}))
