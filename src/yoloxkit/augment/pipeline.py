"""The reference's training pipeline composed from the transforms of this package.

``AugmentConfig.recipe`` chooses the reference: ``"rotated_yolox"`` hands every sample to
:class:`~yoloxkit.augment.rotated.RotatedRecipe`; the rest of this module is the YOLOX one.

Order (reference ``MosaicDetection.__getitem__`` + ``TrainTransform``), after the optional
box-only copy-paste into the images a sample starts from (:mod:`.copypaste`): with probability
``mosaic_prob`` (and unless mosaic is closed for the last epochs) mosaic -> random affine ->
mixup (probability ``mixup_prob``, only when objects are left); otherwise the fitted image
alone. Then, for every sample: HSV jitter -> horizontal flip -> letterbox to the input size ->
drop too-small boxes (if none survive, the sample before HSV/flip is used, unfiltered, as the
reference does) -> pad the labels. Output: BGR uint8 HxWx3 (converted to float on the device,
a quarter of the reference's float32 transfer) and the padded label rows.

Validation uses :func:`yoloxkit.data.preprocess.letterbox`, the preprocessing contract itself.
"""

from __future__ import annotations

import numpy as np

from ..data.preprocess import letterbox
from .affine import affine_matrix, sample_affine
from .color import hsv_jitter, sample_hsv_offsets
from .config import AugmentConfig
from .copypaste import CopyPaste
from .flip import choose_flip, flip_sample
from .geometry import clip_boxes, scale_shift, warp_boxes
from .mixup import mixup, sample_mixup
from .mosaic import layout_mosaic, render_mosaic, sample_centre
from .rotated import RotatedRecipe
from .sample import Sample, SampleSource, load
from .targets import keep_mask, pad_targets


def letterbox_sample(sample: Sample, size: tuple[int, int], pad_value: int = 114) -> Sample:
    """The sample letterboxed to ``size`` by the preprocessing contract (boxes scaled by its ``r``).

    An image that already has the input size is passed through (the contract's resize would
    be an exact copy).
    """
    if sample.image.shape[:2] == tuple(size):
        return sample
    image, r = letterbox(sample.image, size, pad_value)
    return sample.with_boxes(scale_shift(sample.boxes, r), image)


class TrainPipeline:
    """Training samples from a :class:`SampleSource`, drawn with the reference's distributions.

    ``class_names`` (the dataset's, in class-index order; default: the source's ``class_names``
    attribute when it has one) resolve the rotated recipe's ``rect_obj_classes``.
    """

    def __init__(self, source: SampleSource, config: AugmentConfig, class_names: list[str] | None = None) -> None:
        self.source = source
        self.config = config
        rotated = config.recipe == "rotated_yolox"
        names = class_names if class_names is not None else getattr(source, "class_names", None)
        self._rotated = RotatedRecipe(source, config, names) if rotated else None
        self._mixable = any(source.has_objects(i) for i in range(len(source))) if config.enable_mixup and not rotated else False
        self._copy_paste = CopyPaste.from_config(source, config) if not rotated else None

    def __call__(self, index: int, rng: np.random.Generator, mosaic: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Image ``index`` (plus random partners) as ``(uint8 HxWx3 image, [max_labels, 1 + D] targets)``.

        ``mosaic=False`` is the no-augmentation stage of the last epochs.
        """
        if self._rotated is not None:
            return self._rotated(index, rng, mosaic)
        cfg = self.config
        if mosaic and rng.random() < cfg.mosaic_prob:
            sample = self.mosaic(index, rng)
            if self._mixable and len(sample) and rng.random() < cfg.mixup_prob:
                sample = self.mixup(sample, rng)
        else:
            sample = load(self.pasted([index], rng), index)
        return self.finish(sample, rng)

    def pasted(self, indices: list[int], rng: np.random.Generator) -> SampleSource:
        """The source with copy-paste planned into images ``indices`` (the source itself when copy-paste is off)."""
        return self.source if self._copy_paste is None else self._copy_paste.source_for(indices, rng)

    def mosaic(self, index: int, rng: np.random.Generator) -> Sample:
        """Mosaic of image ``index`` and three random images, through the random affine to the input size.

        Only the tiles that overlap the canvas region the output can see are decoded and painted.
        Boxes that the canvas edge cut to zero area stay, as in the reference (rotated, they become
        thin boxes without an object along the canvas edge), unless ``drop_cut_boxes`` is set.
        """
        cfg, size = self.config, self.config.input_size
        centre = sample_centre(rng, cfg.mosaic_center, size)
        indices = [index, *rng.integers(0, len(self.source), 3).tolist()]
        source = self.pasted(indices, rng)
        matrix = affine_matrix(sample_affine(rng, cfg), size)
        layout = layout_mosaic(source, indices, centre, size)
        image = render_mosaic(source, layout, matrix, size, size, cfg.pad_value, cfg.pad_value)
        canvas_boxes, classes = layout.boxes, layout.classes
        if cfg.drop_cut_boxes:
            keep = canvas_boxes.area() > 0
            canvas_boxes, classes = canvas_boxes[keep], classes[keep]
        return Sample(image, clip_boxes(warp_boxes(canvas_boxes, matrix), size[1], size[0]), classes)

    def mixup(self, sample: Sample, rng: np.random.Generator) -> Sample:
        """Blend a random image that has objects into ``sample``."""
        index = int(rng.integers(0, len(self.source)))
        while not self.source.has_objects(index):
            index = int(rng.integers(0, len(self.source)))
        params = sample_mixup(rng, self.config.mixup_scale, self.config.input_size)
        return mixup(sample, load(self.source, index), params, self.config.pad_value)

    def finish(self, sample: Sample, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """HSV, flip, letterbox, box filtering and label padding (reference ``TrainTransform``).

        The flip is the reference's horizontal one unless vertical or diagonal probabilities are set.
        """
        cfg, size = self.config, self.config.input_size
        if not len(sample):
            return letterbox_sample(sample, size, cfg.pad_value).image, pad_targets(sample.boxes, sample.classes, cfg.max_labels)
        image = sample.image
        if rng.random() < cfg.hsv_prob:
            image = hsv_jitter(image, sample_hsv_offsets(rng, cfg.hsv_gains))
        flipped = flip_sample(sample.with_boxes(sample.boxes, image), choose_flip(rng, cfg))
        out = letterbox_sample(flipped, size, cfg.pad_value)
        keep = keep_mask(out.boxes, size, cfg.min_box_side)
        if keep.any():
            out = out.select(keep)
        else:
            out = letterbox_sample(sample, size, cfg.pad_value)
        return np.ascontiguousarray(out.image), pad_targets(out.boxes, out.classes, cfg.max_labels)
