"""``yoloxkit models``: the model zoo with parameter counts and GFLOPs computed from the networks."""

from __future__ import annotations

import json

import torch
import typer

from ..models import count_gflops, count_parameters, create, get_spec, list_models


def model_table() -> list[dict]:
    """One row per registered model: name, params, gflops (at its input size), input_size.

    The networks are built on PyTorch's ``meta`` device: shapes without data, so counting
    takes no memory and the FLOP pass computes nothing (seconds instead of a minute on CPU).
    """
    rows = []
    for name in list_models() + list_models(rotated=True):
        spec = get_spec(name)
        with torch.device("meta"):
            network = create(name)
        rows.append(
            {
                "name": name,
                "params": count_parameters(network),
                "gflops": round(count_gflops(network, spec.input_size), 2),
                "input_size": list(spec.input_size),
            }
        )
    return rows


def models(as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table.")) -> None:
    """List the available models (80-class parameter counts, GFLOPs at the default input size)."""
    rows = model_table()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'model':<12} {'params':>12} {'GFLOPs':>8}  input")
    for row in rows:
        h, w = row["input_size"]
        typer.echo(f"{row['name']:<12} {row['params']:>12,} {row['gflops']:>8.2f}  {h}x{w}")
