"""Options shared by several commands: one spelling and one help text each (no heavy imports)."""

from __future__ import annotations

import typer

WEIGHTS = typer.Option(None, "--weights", "-w", help="Checkpoint file, exported .onnx/.xml model, or a model name for official weights.")
#: Commands that need the PyTorch model itself (export): no exported model.
PYTORCH_WEIGHTS = typer.Option(None, "--weights", "-w", help="Checkpoint file, or a model name for official weights.")
MODEL = typer.Option(None, "--model", "-m", help="Model name (recognised from the weights when omitted).")
DEVICE = typer.Option("cpu", "--device", help="cpu, cuda, cuda:1 or auto.")
LEGACY = typer.Option(False, "--legacy", help="Old normalised preprocessing for pre-2021-08 weights.")
EXIST_OK = typer.Option(False, "--exist-ok", help="Write into an output folder that already holds files (its earlier results are replaced).")
#: predict/eval: several --weights (or a comma list) make an ensemble fused by weighted box fusion.
WEIGHTS_MANY = typer.Option(
    None, "--weights", "-w",
    help="Checkpoint file, exported .onnx/.xml model, or a model name for official weights; several (repeated or comma-separated) predict as one ensemble, fused by weighted box fusion.",
)  # fmt: skip
ENSEMBLE_WEIGHTS = typer.Option(None, "--ensemble-weights", help="Weight of each --weights model in the fusion, comma-separated (default: equal).")
TTA_FLAG = typer.Option(False, "--tta", help="Test-time augmentation: also predict the mirrored image (and --tta-scales), merged.")
TTA_SCALES = typer.Option("1", "--tta-scales", help="With --tta: input scales, comma-separated (e.g. 0.83,1,1.17).")
TTA_MERGE = typer.Option("wbf", "--tta-merge", help="With --tta: merge the views by wbf (weighted box fusion) or nms.")
