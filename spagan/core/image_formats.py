"""The image file extensions the project reads: one list for ingest (spagan.data) and for the
folders that training, translation and evaluation read (spagan.core.imageio)."""

# Formats Pillow decodes without plugins; matched case-insensitively on the file suffix.
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
