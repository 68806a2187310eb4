"""Names every layer shares: the two translation directions and the checkpoint's file name."""

DIRECTIONS = ("a2b", "b2a")  # a2b: G translates domain A to B; b2a: F translates B to A
CHECKPOINT_NAME = "checkpoint.pt"  # in a run folder and in a published model folder
