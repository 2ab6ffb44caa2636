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
