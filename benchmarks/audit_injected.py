"""Label audit on real out-of-fold predictions (issue 18 §2): are injected label errors found?

A synthetic dataset with exact labels (the learning test's shapes, ``yoloxkit data synth``) is
corrupted as the issue prescribes: 5 % of the boxes dropped (``missing``), 5 % spurious boxes
added, 5 % of the classes swapped, 5 % of the boxes shifted by 30-50 % of their size along one
axis (``loose``). Then the whole workflow runs as a user would: ``data kfold`` (``--folds``),
``train --fold all`` (yolox-nano from scratch, the learning test's recipe, ``--epochs`` per fold),
``audit``. Reported per kind: recall of the injected errors in the top 2N suspects of that kind
and precision of the top N suspects of that kind (N = injected; fewer when fewer are listed);
on synthetic data also, for the kinds that hide a real object (missing, class, loose), the share
of errors whose object the out-of-fold model detects (its true class, IoU >= 0.5, a confident
score) and the recall among those: the audit cannot see what the model does not; likewise the
share whose object is visible (at least 70 % of its pixels uncovered by later shapes) and the
recall among those.
``ratio``: none (no peer; the numbers are the result).

``--pretrain E`` first trains yolox-nano E epochs on synthetic shapes of four other classes and
fine-tunes every fold from it (``finetune.class_mode=new``), as a user starts from COCO weights
(which cannot be downloaded here); from-scratch folds of this short recipe sometimes fail (one
fold of a seed-1 run reached held-out AP50 0.27 against 0.66-0.71 for the others).

``--retrain-weak`` does what ``train --fold all`` advises for a weak fold (held-out AP50 under
half the other folds' median): trains it again with another seed and audits the merged
out-of-fold predictions (with ``--reuse``, on the kept runs); without it the report also gives
the recall without the weak folds' images (``kinds_sound_folds``).

``--min-visible 0.7`` renders the synthetic shapes so that no object is more than 30 % covered by
later ones (by default same-coloured shapes may hide each other wholly while their labels give the
whole shape: errors on such objects cannot be seen by any model).

With ``--data D`` the errors go into a copy of a real dataset instead (every split, written as
COCO with the images linked), e.g. BCCD at ``--size 320``.

    python benchmarks/audit_injected.py --keep /tmp/audit-0 --json benchmarks/results/audit_injected.json
    python benchmarks/audit_injected.py --reuse /tmp/audit-0            # audit the kept runs again
    python benchmarks/audit_injected.py --images 480 --folds 5 --min-visible 0.7 --keep /tmp/audit-visible
    python benchmarks/audit_injected.py --data ../shared/datasets/bccd --size 320 --epochs 20 --keep /tmp/audit-bccd
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import add_smoke, apply_smoke, machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/


def corrupt(annotation_files: list[Path], share: float, seed: int) -> dict[str, list]:
    """Inject the errors into the COCO files in place (our own generated copy); returns them by kind,
    each as (file name, box [x, y, w, h]) of the label to find (missing: the dropped object)."""
    rng = np.random.default_rng(seed)
    injected: dict[str, list] = {"missing": [], "spurious": [], "class": [], "loose": []}
    for path in annotation_files:
        data = json.loads(path.read_text())
        names = {im["id"]: im["file_name"] for im in data["images"]}
        sizes = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
        classes = [c["id"] for c in data["categories"]]
        annotations, kept = data["annotations"], []
        picks = rng.random(len(annotations))
        for a, p in zip(annotations, picks):
            x, y, w, h = a["bbox"]
            if p < share:
                injected["missing"].append((names[a["image_id"]], [x, y, w, h]))
                continue
            if p < 2 * share:
                a["category_id"] = int(rng.choice([c for c in classes if c != a["category_id"]]))
                injected["class"].append((names[a["image_id"]], [x, y, w, h]))
            elif p < 3 * share:
                axis = int(rng.integers(0, 2))
                shift = float(rng.choice([-1, 1]) * rng.uniform(0.3, 0.5) * (w if axis == 0 else h))
                a["bbox"] = [x + shift, y, w, h] if axis == 0 else [x, y + shift, w, h]
                injected["loose"].append((names[a["image_id"]], a["bbox"]))
            kept.append(a)
        next_id = max((a["id"] for a in annotations), default=0) + 1
        for image_id in rng.choice(list(names), int(share * len(annotations)), replace=True).tolist():
            width, height = sizes[image_id]
            side = float(rng.uniform(0.1, 0.2) * min(width, height))
            box = [float(rng.uniform(0, width - side)), float(rng.uniform(0, height - side)), side, side]
            kept.append({"id": next_id, "image_id": image_id, "category_id": int(rng.choice(classes)), "bbox": box,
                         "area": side * side, "iscrowd": 0})  # fmt: skip
            injected["spurious"].append((names[image_id], box))
            next_id += 1
        data["annotations"] = kept
        path.write_text(json.dumps(data))
    return injected


def found(suspects: list, truth: list, kind: str, top: int) -> list[bool]:
    """Per injected error of ``kind``: is it among the first ``top`` suspects of that kind?"""
    from yoloxkit.evaluation.voc import xywh_iou

    of_kind = [s for s in suspects if s.kind == kind][:top]
    # a missing object is found by a prediction near it; the other kinds name the label itself
    overlap = 0.5 if kind == "missing" else 0.9
    return [any(Path(s.image).name == Path(name).name and xywh_iou(np.array([s.box]), np.array([box], dtype=np.float64))[0] >= overlap
                for s in of_kind) for name, box in truth]  # fmt: skip


def synthetic(setup: dict) -> dict:
    """The options of the synthetic data for a run's setup: the learning test's shapes, the run's
    image count and, when set, its ``min_visible``."""
    from tests.train.test_learning import DATA

    return DATA | {"images": setup["images"]} | ({"min_visible": setup["min_visible"]} if setup.get("min_visible") else {})


def scored(suspects: list, injected: dict[str, list], kind: str) -> tuple[dict, list[bool]]:
    """Recall of ``kind``'s injected errors in the top 2N suspects of that kind, precision of the
    top N (N = injected; fewer when fewer are listed), the suspects listed; and per error, found."""
    n = len(injected[kind])
    listed = sum(s.kind == kind for s in suspects)
    hits = found(suspects, injected[kind], kind, 2 * n)
    return {"injected": n, "recall_top_2n": sum(hits) / n if n else None,
            "precision_top_n": sum(found(suspects, injected[kind], kind, n)) / min(n, listed) if n and listed else None,
            "suspects": listed}, hits  # fmt: skip


#: An object at least this share uncovered counts as visible (the ``--min-visible`` of the runs that
#: render only such objects).
VISIBLE = 0.7


def hidden_objects(folder: Path, setup: dict, injected: dict[str, list], thresholds: dict[int, float]) -> dict[str, dict[str, list[bool]]]:
    """Synthetic data only (regenerated clean from its seed): per kind of error that hides a real
    object (missing, class, loose), per error, whether the out-of-fold model detects that object at
    all (``detected``: a prediction of its true class at IoU >= 0.5 with the audit's confident score
    for that class) and whether the object can be seen (``visible``: at least ``VISIBLE`` of its
    pixels uncovered by later shapes). An error whose object the model does not see cannot be found
    from its predictions."""
    from tests.train.test_learning import make_data
    from yoloxkit.datasets.synth import visible_shares
    from yoloxkit.evaluation.voc import xywh_iou

    with tempfile.TemporaryDirectory(prefix="audit_clean_") as tmp:
        options = synthetic(setup)
        clean = make_data(Path(tmp) / "data", seed=setup["seed"], **options)
        objects: dict[str, list] = {}
        for path in sorted((clean / "annotations").glob("*.json")):
            data = json.loads(path.read_text())
            names = {im["id"]: Path(im["file_name"]).name for im in data["images"]}
            for a in data["annotations"]:  # in drawing order
                objects.setdefault(names[a["image_id"]], []).append((a["bbox"], a["category_id"]))
    shares = {name: visible_shares(np.array([[x, y, x + w, y + h] for (x, y, w, h), _ in rows]), [c for _, c in rows], options["size"])
              for name, rows in objects.items()}  # fmt: skip
    predictions: dict[str, list] = {}
    for entry in json.loads(oof_file(folder).read_text()):
        predictions.setdefault(Path(entry["file_name"]).name, []).append(entry)
    found: dict[str, dict[str, list[bool]]] = {}
    for kind in ("missing", "class", "loose"):
        found[kind] = {"detected": [], "visible": []}
        for name, box in injected[kind]:  # the injected label keeps its object's width and height
            name = Path(name).name
            k = next(k for k, (b, _) in enumerate(objects[name]) if np.allclose(b[2:], box[2:]))
            true_box, true_class = objects[name][k]
            hits = [e for e in predictions.get(name, []) if e["category_id"] == true_class and e["score"] >= thresholds.get(true_class, 0.5)]
            found[kind]["detected"].append(bool(hits) and float(xywh_iou(np.array([e["bbox"] for e in hits], dtype=np.float64),
                                                                         np.array([true_box] * len(hits), dtype=np.float64)).max()) >= 0.5)  # fmt: skip
            found[kind]["visible"].append(shares[name][k] >= VISIBLE)
    return found


#: The arguments that make the data and the runs (kept with them, taken back by --reuse).
SETUP = ("images", "epochs", "folds", "share", "seed", "data", "size", "min_visible", "pretrain")


def pretrained(folder: Path, args: argparse.Namespace) -> str:
    """``--pretrain`` epochs of yolox-nano on synthetic shapes of four other classes (the blue
    shapes, ``first_class=8``; as many images, another seed), as the learning test's transfer
    case does; returns its checkpoint."""
    from tests.train.test_learning import make_data, train
    from yoloxkit.runs import run_checkpoint

    data = make_data(folder / "data", seed=10_000 + args.seed, **(synthetic(vars(args)) | {"first_class": 8}))
    train(data, folder / "run", args.pretrain, args.seed, None, "log.progress=false", "log.report=false")
    return str(run_checkpoint(folder / "run"))


def fold_configs(args: argparse.Namespace, folds: list[Path], out: Path, seed: int, weights: str | None) -> list:
    """``(fold folder, config)`` pairs of the benchmark's recipe (the learning test's, at ``--size``;
    fine-tuned from ``weights`` with new classes when given), each run into ``out/fold-K``."""
    from tests.train.test_learning import SETTINGS
    from yoloxkit.train.config import make_train_config

    overrides = [*SETTINGS, f"augment.input_size=[{args.size},{args.size}]"] if args.size else list(SETTINGS)
    if weights:  # the folds fine-tune from a model of other classes, as users start from COCO weights
        overrides.append("finetune.class_mode=new")
    return [(f, make_train_config(overrides=overrides, data=str(f), model="yolox-nano", epochs=args.epochs, batch=8,
                                  out=out / f.name, seed=seed, weights=weights)) for f in folds]  # fmt: skip


def retrain_weak(folder: Path, args: argparse.Namespace, record: dict) -> dict:
    """What ``train --fold all`` tells the user to do: train each weak fold again with another seed
    (the run's + 100) into ``folder/retrain``; writes ``folder/retrain/oof_merged.json`` (the
    other folds' out-of-fold predictions and the new ones) and returns the record with the new
    folds' numbers."""
    from yoloxkit.runs import run_checkpoint
    from yoloxkit.train.folds import train_folds, weak_folds

    weak = weak_folds(record["folds"])
    if not weak:
        return record
    weights = str(run_checkpoint(folder / "pretrain" / "run")) if args.pretrain else None
    redo = train_folds(fold_configs(args, [folder / "folds" / f"fold-{k}" for k in weak], folder / "retrain", args.seed + 100, weights),
                       folder / "retrain", exist_ok=False)  # fmt: skip
    kept = [e for e in json.loads((folder / "runs" / "oof_predictions.json").read_text()) if e["fold"] not in weak]
    (folder / "retrain" / "oof_merged.json").write_text(json.dumps(kept + json.loads((folder / "retrain" / "oof_predictions.json").read_text())))
    folds = [r for r in record["folds"] if r["fold"] not in weak] + [r | {"retrained_seed": args.seed + 100} for r in redo["folds"]]
    return record | {"folds": sorted(folds, key=lambda r: r["fold"]), "retrained": weak}


def oof_file(folder: Path) -> Path:
    """The out-of-fold predictions a kept folder is audited on: the merged ones after ``--retrain-weak``."""
    merged = folder / "retrain" / "oof_merged.json"
    return merged if merged.is_file() else folder / "runs" / "oof_predictions.json"


def save_run(folder: Path, injected: dict[str, list], record: dict, args: argparse.Namespace) -> None:
    """``folder/injected.json``: the injected errors, the record of the fold runs and the arguments
    that made them (``SETUP``), which ``--reuse`` takes back."""
    (folder / "injected.json").write_text(json.dumps({"injected": injected, "record": record, "setup": {key: getattr(args, key) for key in SETUP}}))


def prepare(folder: Path, args: argparse.Namespace) -> tuple[dict[str, list], dict]:
    """Data with injected errors, k-fold training and out-of-fold predictions in ``folder``;
    saves them (:func:`save_run`) and returns the injected errors and the record of the fold runs."""
    from tests.train.test_learning import make_data
    from yoloxkit.datasets import Report, load_dataset
    from yoloxkit.datasets.kfold import make_kfold
    from yoloxkit.datasets.load import write_dataset
    from yoloxkit.train.folds import select_folds, train_folds

    if args.data:  # a copy (COCO, images linked) of a real dataset, every split
        data = folder / "data"
        write_dataset(load_dataset(args.data, Report()), "coco", data, Report())
    else:
        data = make_data(folder / "data", seed=args.seed, **synthetic(vars(args)))
    injected = corrupt(sorted((data / "annotations").glob("*.json")), args.share, args.seed)
    make_kfold(load_dataset(data, Report()), args.folds, args.seed, folder / "folds")
    start = time.perf_counter()
    weights = pretrained(folder / "pretrain", args) if args.pretrain else None
    record = train_folds(fold_configs(args, select_folds(folder / "folds", "all"), folder / "runs", args.seed, weights), folder / "runs", exist_ok=False)
    record["train_minutes"] = (time.perf_counter() - start) / 60
    save_run(folder, injected, record, args)
    return injected, record


def audited(folder: Path) -> tuple[list, dict[int, float]]:
    """The audit of the prepared ``folder``'s data against its out-of-fold predictions: the
    suspects and the per-class confident scores."""
    from yoloxkit.datasets import Report, load_dataset
    from yoloxkit.evaluation.audit import audit, dataset_labels

    oof = json.loads(oof_file(folder).read_text())
    return audit(dataset_labels(load_dataset(folder / "data", Report()))[0], oof)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", help="inject the errors into a copy of this dataset (e.g. ../shared/datasets/bccd) instead of synthetic shapes")
    parser.add_argument("--size", type=int, help="training input size (default: the learning test's)")
    parser.add_argument("--pretrain", type=int, help="first train yolox-nano this many epochs on synthetic shapes of other classes and fine-tune every fold from it (default: folds from scratch)")
    parser.add_argument("--min-visible", type=float, help="synthetic data: every object keeps this share of its pixels uncovered (data synth --min-visible; default: objects may hide each other)")
    parser.add_argument("--keep", type=Path, help="work in this new folder and keep it (data, folds, runs, injected.json)")
    parser.add_argument("--reuse", type=Path, help="audit a folder kept by --keep again, without training")
    parser.add_argument("--retrain-weak", action="store_true", help="train the weak folds again with another seed (as train --fold all advises; with --reuse, on the kept runs) and audit the merged predictions")
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), images=24, epochs=1, folds=2)
    if args.pretrain and args.data:
        parser.error("--pretrain makes synthetic shapes of other classes: not with --data")
    torch.set_num_threads(2)
    from yoloxkit.evaluation import load_ground_truth
    from yoloxkit.evaluation.audit import KINDS
    from yoloxkit.train.folds import weak_folds

    with contextlib.ExitStack() as stack:
        if args.reuse:
            folder = args.reuse
            saved = json.loads((folder / "injected.json").read_text())
            injected, record = saved["injected"], saved["record"]
            vars(args).update({"data": None, "size": None, "min_visible": None, "pretrain": None} | saved["setup"])
        else:
            folder = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="audit_injected_")))
            if args.keep:
                folder.mkdir(parents=True, exist_ok=False)  # a kept folder must be new
            injected, record = prepare(folder, args)
        if args.retrain_weak and not (folder / "retrain").exists():
            record = retrain_weak(folder, args, record)
            save_run(folder, injected, record, args)
        suspects, thresholds = audited(folder)
        setup = {key: getattr(args, key) for key in SETUP}
        hidden = hidden_objects(folder, setup, injected, thresholds) if not args.data else {}
    results = {}
    for kind in KINDS:
        results[kind], hits = scored(suspects, injected, kind)
        for key, flags in hidden.get(kind, {}).items():  # recall among the errors whose object the model detects / one can see
            if any(flags):
                results[kind][f"object_{key}"] = float(np.mean(flags))
                results[kind][f"recall_top_2n_{key}"] = float(np.mean([h for h, v in zip(hits, flags) if v]))
    print(f"{args.data or 'synthetic'}: {args.images if not args.data else ''} images, {args.folds} folds x {args.epochs} epochs"
          + (f" fine-tuned from {args.pretrain} epochs on other classes" if args.pretrain else "")
          + f" ({record['train_minutes']:.1f} min); held-out AP50 per fold: "
          + ", ".join(f"{r['AP50']:.3f}" for r in record["folds"]))  # fmt: skip
    sound = {}
    weak = weak_folds(record["folds"])
    if weak:  # what the audit finds where the fold models are sound (train --fold all warns of the others)
        held = {Path(name).name for k in weak for name in load_ground_truth(folder / "folds" / f"fold-{k}", "val").file_names}
        kept = {kind: [(name, box) for name, box in rows if Path(name).name not in held] for kind, rows in injected.items()}
        sound = {kind: scored([s for s in suspects if Path(s.image).name not in held], kept, kind)[0] for kind in KINDS}
        print(f"weak folds {weak} (their {len(held)} images left out): "
              + ", ".join(f"{kind} recall@2N {r['recall_top_2n']:.2f} of {r['injected']}" for kind, r in sound.items() if r["injected"]))  # fmt: skip
    for kind, r in results.items():
        print(f"{kind:9s} injected {r['injected']:4d}  recall@2N {r['recall_top_2n']}  precision@N {r['precision_top_n']}  suspects {r['suspects']}"
              + "".join(f"  object {key} {r[f'object_{key}']:.2f}, recall@2N among those {r[f'recall_top_2n_{key}']:.2f}"
                        for key in ("detected", "visible") if f"object_{key}" in r))  # fmt: skip
    if args.json:
        report = {"ratio": None, "ratio_is": "none: the per-kind recall and precision are the result", "kinds": results,
                  "weak_folds": weak, "kinds_sound_folds": sound, "retrained_folds": record.get("retrained", []),
                  "folds": record["folds"], "setup": {"images": args.images, "epochs": args.epochs, "folds": args.folds, "share": args.share,
                  "seed": args.seed, "data": args.data or "synthetic shapes (data synth)", "size": args.size, "min_visible": args.min_visible,
                  "pretrain_epochs": args.pretrain,
                  "train_minutes": record["train_minutes"], "recipe": "tests/train/test_learning.py SETTINGS"},
                  "provenance": machine()}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
