"""The one package that talks to TensorFlow: load a model, apply a recipe with TFLiteConverter,
calibrate once, and sort loading failures by fault. TensorFlow is imported lazily."""
