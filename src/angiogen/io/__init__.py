"""File formats: NIfTI, DICOM (incl. XA/RF multi-frame), 2D images, meshes, run directories."""
