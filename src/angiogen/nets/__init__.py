"""Network definitions not already in MONAI."""
