"""Forensic signal helpers: SRM noise residuals, GLCM richest-patch selection, and map -> image rendering."""

from core.forensics.glcm import crop_patches, patch_boxes, patch_homogeneity, richest_patch, to_grey_levels
from core.forensics.heatmap import colorize, noise_to_image, overlay
from core.forensics.srm import SRM_DIVISORS, SRM_KERNELS_INT, SRMFilter, srm_filter, srm_kernels

__all__ = [
    "SRMFilter",
    "SRM_DIVISORS",
    "SRM_KERNELS_INT",
    "colorize",
    "crop_patches",
    "noise_to_image",
    "overlay",
    "patch_boxes",
    "patch_homogeneity",
    "richest_patch",
    "srm_filter",
    "srm_kernels",
    "to_grey_levels",
]
