"""The references' detection thresholds, named once (no dependencies: the command line and the
evaluation of results files read them without importing PyTorch)."""

#: NMS IoU of ``predict`` for axis-aligned models (YOLOX's demo setting).
NMS_IOU = 0.45
#: Rotated NMS IoU of ai4rs' rotated YOLOX test config.
ROTATED_NMS_IOU = 0.1
#: Score threshold of ai4rs' rotated YOLOX test config.
ROTATED_CONF = 0.01
#: The reference's COCO test settings (its README numbers): score threshold and NMS IoU.
TEST_CONF, TEST_IOU = 0.001, 0.65
#: Score threshold of ``predict`` when neither ``--conf`` nor per-class thresholds say otherwise.
PREDICT_CONF = 0.25
