"""DICOM: header-only indexing of folders and loading of image stacks into Volumes."""
