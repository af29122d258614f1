"""What a build is asked to do, checked before anything heavy runs: manifests, workspaces, data sources,
output paths, the model's format, target tables and versions. No TensorFlow."""
