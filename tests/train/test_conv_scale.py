"""Rescaling inflated convolutions at the start of a fine-tune keeps the model's outputs and brings
the weights back to their initial norm (train.conv_scale)."""

from __future__ import annotations

import torch

from yoloxkit.models import create
from yoloxkit.models.blocks import BaseConv
from yoloxkit.train.conv_scale import initial_norm, rescale_inflated_convs
from yoloxkit.train.finetune import LoadReport


def inflated_model(factor: float = 10.0) -> tuple[torch.nn.Module, str]:
    """A fresh yolox-nano (eval mode, trained-like BN statistics) whose stem conv is ``factor`` times
    larger with its running statistics to match: the same function, as a long training can leave it."""
    torch.manual_seed(0)
    model = create("yolox-nano", 3)
    with torch.no_grad():
        for module in model.modules():  # running statistics of real activations
            if isinstance(module, torch.nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None
        model.train()(torch.rand(4, 3, 64, 64) * 255)
        model.eval()
        name, stem = next((n, m) for n, m in model.named_modules() if isinstance(m, BaseConv))
        stem.conv.weight.mul_(factor)
        stem.bn.running_mean.mul_(factor)
        stem.bn.running_var.mul_(factor**2)
    return model, name


def test_inflated_convs_are_rescaled_with_the_same_outputs() -> None:
    model, stem = inflated_model(10.0)
    image = torch.rand(1, 3, 64, 64) * 255
    with torch.no_grad():  # the backbone's features (a random head's outputs barely depend on them)
        before = model.backbone(image)
    untouched = {n: m.conv.weight.clone() for n, m in model.named_modules() if isinstance(m, BaseConv) and n != stem}
    rescaled = rescale_inflated_convs(model, max_ratio=3.0)
    assert list(rescaled) == [stem] and 9 < rescaled[stem] < 11
    conv = dict(model.named_modules())[stem].conv
    assert abs(float(conv.weight.norm()) / initial_norm(conv) - 1) < 1e-5
    assert all(torch.equal(m.conv.weight, untouched[n]) for n, m in model.named_modules() if n in untouched)
    with torch.no_grad():
        after = model.backbone(image)
    for a, b in zip(after, before):  # equal up to BatchNorm's eps, which now weighs 100x more
        assert float((a - b).norm() / b.norm()) < 1e-3


def test_a_fresh_model_and_the_off_switch_change_nothing() -> None:
    assert rescale_inflated_convs(create("yolox-nano", 3), max_ratio=3.0) == {}  # fresh weights are ~1x their initial norm
    model, _ = inflated_model(10.0)
    assert rescale_inflated_convs(model, max_ratio=0) == {}
    assert rescale_inflated_convs(model, max_ratio=12.0) == {}


def test_the_load_report_says_what_was_rescaled() -> None:
    report = LoadReport("w.pt", "yoloxkit", ["a"], [], [], [], 1.0, rescaled={"backbone.stem.conv": 21.9, "b": 4.0})
    assert "2 convolutions whose weights had grown large were rescaled" in report.summary()
    assert "backbone.stem.conv 21.9x" in report.summary() and report.to_dict()["rescaled"]["b"] == 4.0
