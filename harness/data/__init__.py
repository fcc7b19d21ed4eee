"""Data sources: the source registry, local datasets, npz files and augmentation."""
