"""The printed table, ``metrics.json``, ``per_class.csv`` and ``report.md``."""

from __future__ import annotations

from pathlib import Path

from ..files import without_nan, write_csv, write_json, write_text

from .cocometrics import STATS
from .confusion import normalize_rows
from .result import CLASS_COLUMNS, EvaluationResult
from .tide import ERROR_TYPES

#: Per-class columns of the printed table and of report.md.
TABLE_COLUMNS = ("name", "images", "instances", "AP", "AP50", "AP75", "AR100", "P_best", "R_best", "F1_best")
#: Confusion matrices larger than this are shown as a plot only.
MAX_CONFUSION_TABLE = 20


def coco_lines(coco: dict[str, float]) -> list[str]:
    """The 12 lines pycocotools' ``summarize`` prints, in its layout."""
    lines = []
    for name, (is_ap, iou, area, max_det) in STATS.items():
        title, kind = ("Average Precision", "(AP)") if is_ap else ("Average Recall", "(AR)")
        iou_text = "0.50:0.95" if iou is None else f"{iou:0.2f}"
        lines.append(
            f" {title:<18} {kind} @[ IoU={iou_text:<9} | area={area:>6s} | maxDets={max_det:>3d} ] = {coco[name]:0.3f}"
        )
    return lines


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _point_line(label: str, point: dict) -> str:
    if point["conf"] is None:
        return f"{label}: no detections"
    return (
        f"{label} {point['conf']:.3f}: P {point['precision']:.3f}  R {point['recall']:.3f}  F1 {point['f1']:.3f}"
        f"  (TP {point['tp']}, FP {point['fp']}, FN {point['fn']})"
    )


def _speed_line(speed: dict) -> str:
    return (
        f"speed per image: preprocess {speed['preprocess_ms']:.2f} ms, inference {speed['inference_ms']:.2f} ms, "
        f"postprocess {speed['postprocess_ms']:.2f} ms ({speed['device']}, batch {speed['batch']}); "
        f"peak memory {speed['peak_memory_mb']:.0f} MB ({speed['memory']})"
    )


def summary_text(result: EvaluationResult) -> str:
    """What ``yoloxkit eval`` prints: COCO summary, per-class table, P/R/F1, VOC, errors, speed."""
    data = result.to_dict()
    rows = [[_cell(row[c]) for c in TABLE_COLUMNS] for row in data["per_class"]]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(TABLE_COLUMNS)]
    table = [
        "  ".join(text.ljust(w) if i == 0 else text.rjust(w) for i, (text, w) in enumerate(zip(line, widths)))
        for line in [list(TABLE_COLUMNS), *rows]
    ]
    errors = data["errors"]
    lines = [
        *coco_lines(result.coco),
        "",
        *table,
        "",
        _point_line("P/R/F1 (IoU 0.5) at best-F1 conf", data["prf"]["best_f1"]),
        _point_line("P/R/F1 (IoU 0.5) at conf", data["prf"]["at_conf"]),
        f"VOC AP50: 11-point {_cell(data['voc']['mAP50_11pt'])}, all-points {_cell(data['voc']['mAP50'])}",
        "errors (count, AP50 gained if fixed): "
        + ", ".join(f"{t} {errors['counts'][t]} (+{errors['delta_ap50'][t]:.3f})" for t in ERROR_TYPES),
    ]
    if result.speed:
        lines.append(_speed_line(result.speed))
    lines.extend(f"warning: {w}" for w in result.settings.get("warnings", []))
    return "\n".join(lines)


def write_metrics(result: EvaluationResult, out: Path, plots: bool = False) -> None:
    """Write ``metrics.json``, ``per_class.csv`` and ``report.md`` into ``out`` (``plots``: the
    report embeds the PNG plots written beside it)."""
    raw = result.to_dict()
    data = without_nan(raw)
    write_json(out / "metrics.json", data)
    write_csv(out / "per_class.csv", CLASS_COLUMNS, data["per_class"])
    write_text(out / "report.md", report_markdown(result, raw, plots))
    if result.operating is not None:
        write_json(out / "thresholds.json", without_nan(result.operating.to_dict()))


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def report_markdown(result: EvaluationResult, data: dict, plots: bool = False) -> str:
    """``report.md``: every table of the evaluation, with the plots embedded when they were drawn
    (``report.html`` beside it has every chart)."""
    coco = result.coco
    lines = [
        "# Evaluation report",
        "",
        f"{data['images']} images, {data['instances']} objects, {data['detections']} detections.",
        "",
    ]
    lines += [
        "## COCO metrics (pycocotools-identical)",
        "",
        *_md_table(list(coco), [[f"{v:.3f}" for v in coco.values()]]),
        "",
    ]
    lines += ["```", *coco_lines(coco), "```", ""]
    lines += [
        "## Per class",
        "",
        *_md_table(list(TABLE_COLUMNS), [[_cell(r[c]) for c in TABLE_COLUMNS] for r in data["per_class"]]),
        "",
    ]
    lines += ["## Operating points (IoU 0.5)", ""]
    lines += [
        f"- {_point_line('best F1 at conf', data['prf']['best_f1'])}",
        f"- {_point_line('at conf', data['prf']['at_conf'])}",
        "",
    ]
    if plots:
        lines += ["![precision, recall and F1 against confidence](prf_vs_conf.png)", "", "![PR curves](pr_curves.png)", ""]
    if result.operating is not None:
        lines += ["## Per-class operating thresholds (thresholds.json)", "", result.operating.table(), ""]
        lines += [f"- {note}" for note in result.operating.notes] + ([""] if result.operating.notes else [])
    lines += [
        "## Pascal VOC AP50",
        "",
        f"11-point (VOC2007): {_cell(data['voc']['mAP50_11pt'])}; all points: {_cell(data['voc']['mAP50'])}",
        "",
    ]
    sizes = " / ".join(f"{k} {_cell(coco[k])}" for k in ("APs", "APm", "APl"))
    lines += ["## AP by object size", "", f"AP small / medium / large: {sizes}", ""]
    lines += ["![AP by size](ap_by_size.png)", ""] if plots else []
    lines += _confusion_section(result, plots)
    errors = data["errors"]
    rows = [[t, str(errors["counts"][t]), f"{errors['delta_ap50'][t]:.3f}"] for t in ERROR_TYPES]
    lines += [
        "## Errors (TIDE-style)",
        "",
        f"mAP50 {errors['ap50']:.3f}; what fixing each kind of error would add:",
        "",
    ]
    lines += [*_md_table(["error", "count", "AP50 gained"], rows), ""]
    worst = [
        [str(w["image_id"]), w["file_name"], str(w["tp"]), str(w["fp"]), str(w["fn"])] for w in data["worst_images"]
    ]
    lines += [
        f"## Worst images (conf {result.settings['conf']})",
        "",
        *_md_table(["image id", "file", "TP", "FP", "FN"], worst),
        "",
    ]
    if result.speed:
        lines += ["## Speed", "", _speed_line(result.speed), ""]
    return "\n".join(lines)


def _confusion_section(result: EvaluationResult, plots: bool) -> list[str]:
    lines = [f"## Confusion matrix (conf {result.at_conf.conf}, IoU 0.5; rows: true, columns: predicted)", ""]
    if result.gt.num_classes <= MAX_CONFUSION_TABLE:
        labels = [*result.names, "background"]
        share = normalize_rows(result.confusion)
        rows = [
            [labels[i], *(f"{c} ({s:.2f})" for c, s in zip(result.confusion[i], share[i]))] for i in range(len(labels))
        ]
        lines += [*_md_table(["true \\ predicted", *labels], rows), ""]
    return lines + (["![confusion matrix](confusion_matrix.png)", ""] if plots else [])
