"""Names every layer shares: the two translation directions and the model files' names."""

DIRECTIONS = ("a2b", "b2a")  # a2b: G translates domain A to B; b2a: F translates B to A
CHECKPOINT_NAME = "checkpoint.pt"  # the resumable training state, in a run folder (and in format-2 model folders)
WEIGHTS_NAME = "model.safetensors"  # weights only (G, F, D_A, D_B + config), in a published model folder
# Evaluation during training (spagan.training.selection), in a run folder; `lineage publish`
# reads them to publish the best checkpoint and copies the curve.
EVAL_CURVE_NAME = "eval_curve.csv"
BEST_NAME = "best.pt"  # the networks at the best evaluation (weights only)
BEST_RECORD_NAME = "best.json"  # which evaluation best.pt is: step, epoch, select_by, select_mode, score
# Watching a run: preview grids <run>/previews/step_NNNNNN.png (the newest is published as
# preview.png) and TensorBoard events <run>/tensorboard/.
PREVIEW_DIR = "previews"
PUBLISHED_PREVIEW = "preview.png"
BOARD_DIR = "tensorboard"
