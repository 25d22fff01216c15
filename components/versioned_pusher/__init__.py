"""VersionedPusher: pushes blessed models to numbered versions (TF Serving's layout) with a manifest each."""
