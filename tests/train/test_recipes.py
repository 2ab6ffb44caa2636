"""Built-in training recipes: ``--config rotated-yolox-s-dota`` and the model defaults agree."""

from __future__ import annotations

import pytest

from yoloxkit.cli import main
from yoloxkit.config import read_yaml, to_dict
from yoloxkit.errors import YoloxkitError
from yoloxkit.train.config import RECIPES, make_train_config, recipe_names


def test_rotated_dota_recipe_is_the_rotated_models_defaults():
    assert "rotated-yolox-s-dota" in recipe_names()
    recipe = to_dict(make_train_config("rotated-yolox-s-dota", data="split"))
    defaults = to_dict(make_train_config(model="rotated-yolox-s", epochs=300, data="split"))
    assert recipe == defaults
    written = read_yaml(RECIPES / "rotated-yolox-s-dota.yaml")
    assert (written["batch"], written["optim"]["grad_clip"], written["val"]["iou"]) == (8, 35.0, 0.1)
    assert recipe["optim"]["basic_lr_per_img"] * recipe["batch"] == pytest.approx(0.00125)  # the reference's lr


def test_recipe_from_the_cli_with_overrides(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--config", "rotated-yolox-s-dota", "--data", "split", "--model", "rotated-yolox-tiny",
              "--set", "epochs=36", "--print-config"])  # fmt: skip
    assert done.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "model: rotated-yolox-tiny" in printed and "epochs: 36" in printed and "grad_clip: 35.0" in printed


def test_unknown_recipe_names_the_built_in_ones():
    with pytest.raises(YoloxkitError, match="no built-in recipe of that name.*rotated-yolox-s-dota"):
        make_train_config("rotated-yolox-q-dota")
