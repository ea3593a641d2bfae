"""The model side of the loop: the transformer (model), token datasets (data), fine-tuning and
sampling (train), and starting a model from an earlier run (transfer)."""
