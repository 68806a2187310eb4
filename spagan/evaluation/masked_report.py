"""The real-mask block of an evaluation (``metrics[direction]["real_masks"]``, made by spagan.
evaluation.metrics.inside_outside) as text rows, without torch: what `spagan evaluate` prints and
the Dagster evaluation assets show, each model number next to its reference rows."""

from typing import Any

from spagan.evaluation.report import DIRECTIONS, cell

BLOCK = "real_masks"  # key of the block in a direction's metrics
# (label, key path in the block, the model's row, reference rows in brackets)
ROWS = (
    ("attention ROC AUC", ("attention", "auc"), "attention", ("uniform", "centre_prior")),
    ("attention in mask", ("attention", "in_mask"), "attention", ("uniform", "centre_prior")),
    ("change inside mask [0,1]", ("change", "inside"), "translation", ("input_as_output", "constant_as_output")),
    ("change outside mask [0,1]", ("change", "outside"), "translation", ("input_as_output", "constant_as_output")),
    ("change inside / outside", ("change", "ratio"), "translation", ("input_as_output", "constant_as_output")),
)
LEGEND = ("real masks: attention [uniform map; centre prior], change [input as output; constant output]: "
          "what a model that knows nothing about the object scores")


def _value(block: dict[str, Any], section: str, row: str, key: str) -> Any:
    return block.get(section, {}).get(row, {}).get(key)


def masked_rows(metrics: dict[str, Any]) -> list[tuple[str, ...]]:
    """(label, a2b, b2a) per real-mask measure, "-" for a direction without masks; [] when no
    direction has any (an evaluation without masks, or from before the block existed)."""
    if not any(metrics.get(d, {}).get(BLOCK) for d in DIRECTIONS):
        return []
    rows = []
    for label, (section, key), model, refs in ROWS:
        cells = []
        for d in DIRECTIONS:
            block = metrics[d].get(BLOCK)
            if not block:
                cells.append("-")
                continue
            ref_text = "; ".join(cell(_value(block, section, r, key)) for r in refs)
            cells.append(f"{cell(_value(block, section, model, key))} [{ref_text}]")
        rows.append((label, *cells))
    return rows


def masked_flat(metrics: dict[str, Any]) -> dict[str, float]:
    """Flat numbers for metadata: ``a2b_mask_attention_auc``, ``a2b_mask_change_inside``, ... (the model's rows)."""
    out: dict[str, float] = {}
    for d in DIRECTIONS:
        block = metrics.get(d, {}).get(BLOCK)
        if not block:
            continue
        for _, (section, key), model, _ in ROWS:
            value = _value(block, section, model, key)
            if value is not None:
                out[f"{d}_mask_{section}_{key}"] = float(value)
    return out


def masked_line(metrics: dict[str, Any], direction: str) -> str:
    """`attention ROC AUC 0.612 [0.500; 0.655]; ...; (legend)` for one direction, "" without masks."""
    if not metrics.get(direction, {}).get(BLOCK):
        return ""
    col = 1 + DIRECTIONS.index(direction)
    return "; ".join(f"{row[0]} {row[col]}" for row in masked_rows(metrics)) + f" ({LEGEND})"
