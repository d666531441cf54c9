"""unet-grader: the autograder for the week-6 UNet segmentation lab."""

__version__ = "0.2.0"
