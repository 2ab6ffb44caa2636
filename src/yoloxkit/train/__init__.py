"""Training: the YOLOX recipe, checkpoints and exact resume, fine-tuning controls and run logs."""
