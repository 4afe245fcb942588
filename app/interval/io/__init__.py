"""Input/output: DICOM indexing and loading, other image formats, synthetic data."""
