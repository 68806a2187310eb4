"""Core: errors, atomic files and digests, image reading and writing, image geometry, the device.

The bottom layer: imports nothing else of spagan, so every other package may use it.
"""
