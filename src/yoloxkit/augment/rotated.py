"""The rotated recipe's samples (ai4rs ``rotated_yolox_s_300e_dota_le90``), from this package's transforms.

Stage 1 (``train_pipeline``): mosaic (2H x 2W canvas, the reference's tile placement) -> objects
whose centre left the canvas dropped -> random resize (``resize_ratio`` of the canvas) -> random
rotation (:mod:`.rotate`, border ``rotate_border_value``) -> random crop to the input size,
keeping the objects whose centre is inside -> HSV -> flip (horizontal / vertical / diagonal) ->
pad (bottom/right, ``pad_value``) -> mixup with a second sample built the same way (no scale
jitter at the recipe's ``mixup_scale`` of 1, mirrored with probability 0.5). Stage 2 (mosaic
closed, ``train_pipeline_stage2``): the image alone, resized relative to the input size, then
rotation, crop, HSV, flip and pad as above; no mosaic, no mixup.

Resize, rotation and crop are drawn in the reference's order and applied as one warp (:mod:`.view`).
As with mmdet's ``RandomCrop(allow_negative_crop=False)``, a crop without any object rejects
the sample and a random image with objects is drawn instead; images without objects are never
trained on (the reference's ``filter_empty_gt``) and mosaic partners are drawn among images with
objects (the reference's mosaic cache only holds such images). Polygons are never clipped.
"""

from __future__ import annotations

import numpy as np

from ..errors import YoloxkitError
from ..structures.boxes import BoxFormat
from .affine import warp_image
from .color import hsv_jitter, sample_hsv_offsets
from .config import AugmentConfig
from .copypaste import CopyPaste
from .flip import choose_flip, flip_sample
from .geometry import centres_inside, warp_boxes
from .mixup import mixup, sample_mixup
from .mosaic import layout_mosaic, render_mosaic, sample_centre
from .rotate import rect_class_indices
from .sample import Sample, SampleSource
from .targets import keep_mask, pad_targets
from .view import draw_view, pad_image, pixel_matrix

#: Rejected draws (crops without objects) in a row after which a sample gives up.
MAX_DRAWS = 100


class RotatedRecipe:
    """Training samples of the rotated recipe from a :class:`SampleSource` of polygon (``qbox``) objects."""

    def __init__(self, source: SampleSource, config: AugmentConfig, class_names: list[str] | None = None) -> None:
        self.source = source
        self.config = config
        self.with_objects = np.flatnonzero([source.has_objects(i) for i in range(len(source))])
        if not len(self.with_objects):
            raise YoloxkitError("the rotated_yolox recipe trains on images with objects only, and this split has none")
        box_format = source.objects(int(self.with_objects[0]))[0].format
        if box_format != BoxFormat.QBOX:
            raise YoloxkitError(f"the rotated_yolox recipe needs polygon (qbox) objects, the dataset has {box_format.value} boxes")
        self.rect_classes = rect_class_indices(config.rect_obj_classes, class_names)
        self.copy_paste = CopyPaste.from_config(source, config)

    def pasted(self, indices: list[int], rng: np.random.Generator) -> SampleSource:
        """The source with copy-paste planned into images ``indices`` (the source itself when copy-paste is off)."""
        return self.source if self.copy_paste is None else self.copy_paste.source_for(indices, rng)

    def __call__(self, index: int, rng: np.random.Generator, mosaic: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Image ``index`` (or a random stand-in) as ``(uint8 HxWx3 image, [max_labels, 9] targets)``."""
        cfg = self.config
        with_mosaic = mosaic and rng.random() < cfg.mosaic_prob
        sample = self.augmented(index, rng, with_mosaic)
        if with_mosaic and cfg.enable_mixup and rng.random() < cfg.mixup_prob:
            other = self.augmented(self.random_index(rng), rng, rng.random() < cfg.mosaic_prob)
            sample = mixup(sample, other, sample_mixup(rng, cfg.mixup_scale, cfg.input_size), cfg.pad_value)
        sample = sample.select(keep_mask(sample.boxes, cfg.input_size, cfg.min_box_side))
        return np.ascontiguousarray(sample.image), pad_targets(sample.boxes, sample.classes, cfg.max_labels)

    def random_index(self, rng: np.random.Generator) -> int:
        """A uniformly random image among those with objects."""
        return int(self.with_objects[rng.integers(0, len(self.with_objects))])

    def augmented(self, index: int, rng: np.random.Generator, mosaic: bool) -> Sample:
        """Everything before mixup: the warped crop (redrawn until it holds objects), HSV, flip, pad."""
        cfg = self.config
        for _ in range(MAX_DRAWS):
            if not self.source.has_objects(index):
                index = self.random_index(rng)
            sample = self.mosaic_crop(index, rng) if mosaic else self.single_crop(index, rng)
            if sample is not None:
                break
            index = self.random_index(rng)
        else:
            raise YoloxkitError(f"{MAX_DRAWS} random crops in a row held no object; are the objects far smaller than the images?")
        image = sample.image
        if rng.random() < cfg.hsv_prob:
            image = hsv_jitter(image, sample_hsv_offsets(rng, cfg.hsv_gains))
        flipped = flip_sample(sample.with_boxes(sample.boxes, image), choose_flip(rng, cfg))
        return flipped.with_boxes(flipped.boxes, pad_image(flipped.image, cfg.input_size, cfg.pad_value))

    def mosaic_crop(self, index: int, rng: np.random.Generator) -> Sample | None:
        """Mosaic of ``index`` and three random images, resized, rotated and cropped; None without objects."""
        cfg, size = self.config, self.config.input_size
        centre = sample_centre(rng, cfg.mosaic_center, size)
        indices = [index, *(self.random_index(rng) for _ in range(3))]
        source = self.pasted(indices, rng)
        layout = layout_mosaic(source, indices, centre, size)
        canvas = (2 * size[0], 2 * size[1])
        inside = centres_inside(layout.boxes, canvas)
        boxes, classes = layout.boxes[inside], layout.classes[inside]
        view = draw_view(rng, cfg, canvas, canvas, classes, self.rect_classes)
        boxes = warp_boxes(boxes, view.matrix)
        keep = centres_inside(boxes, view.shape)
        if not keep.any():
            return None
        matrix = pixel_matrix(view.matrix)
        image = render_mosaic(source, layout, matrix, view.shape, size, cfg.pad_value, cfg.rotate_border_value)
        return Sample(image, boxes[keep], classes[keep])

    def single_crop(self, index: int, rng: np.random.Generator) -> Sample | None:
        """Image ``index`` alone, resized relative to the input size, rotated and cropped; None without objects."""
        cfg = self.config
        source = self.pasted([index], rng)
        boxes, classes = source.objects(index)
        view = draw_view(rng, cfg, source.shape(index), cfg.input_size, classes, self.rect_classes)
        boxes = warp_boxes(boxes, view.matrix)
        keep = centres_inside(boxes, view.shape)
        if not keep.any():
            return None
        image = warp_image(source.image(index), pixel_matrix(view.matrix), view.shape, (0, 0), cfg.rotate_border_value)
        return Sample(image, boxes[keep], classes[keep])
