"""Image input and the preprocessing contract shared by prediction, training, evaluation and export."""
