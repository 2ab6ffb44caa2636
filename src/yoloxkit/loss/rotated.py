"""Rotated YOLOX training: rotated SimOTA assignment and the loss, as ai4rs ``RotatedYOLOXHead``.

Head output layout (the contract with ``yoloxkit.models.rotated``)
------------------------------------------------------------------
In training mode the rotated head returns one raw map per stride (8, 16, 32, finest first)::

    level[k]: [B, 4 + 1 + 1 + C, H_k, W_k]   channels (tx, ty, tw, th, angle, obj, cls_0 .. cls_{C-1})

* ``tx, ty, tw, th``: the YOLOX box regression (``conv_reg``), decoded per cell ``(i, j)`` (row
  ``i``, column ``j``, stride ``s``) as ``cx = (tx + j) * s``, ``cy = (ty + i) * s``,
  ``w = exp(tw) * s``, ``h = exp(th) * s`` (the same decoding as the axis-aligned head, and
  ai4rs' ``prior + d * s`` with the cell-corner prior);
* ``angle``: ONE channel (``conv_ang``, the ``PseudoAngleCoder``: the raw value is the angle in
  radians; for output it is wrapped into ``[-pi/2, pi/2)`` with ``(a + pi/2) mod pi - pi/2``, no
  w/h swap);
* ``obj``: objectness logit; ``cls``: ``C`` class logits (sigmoid, single label per anchor).

Every channel is a raw logit/regression value (no activation); the loss flattens the levels
row-major (``y`` outer, ``x`` inner), level after level, as the axis-aligned loss does.

Targets are a :class:`yoloxkit.loss.Targets` whose ``boxes`` are ``[B, G, 5]`` rboxes
``(cx, cy, w, h, angle)`` in network-input pixels and radians; build them with
:func:`rotated_targets`.
"""
