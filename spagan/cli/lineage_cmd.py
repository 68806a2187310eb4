"""`spagan lineage`: where a model came from, and the two steps around training in the DVC stage.

    spagan lineage show models/spagan        data version, md5s, params, commit of a model
    spagan lineage start --work W --stage train
                                             empty work folder W unless it holds an unfinished run
                                             started under the stage's current deps and params
    spagan lineage publish --work W --model D --data P --manifest M
                                             copy the finished run W into D with lineage.json
    spagan lineage gate --out runs/selection_gate.json
                                             what decides the published checkpoint (spagan.lineage.gate)
"""

import argparse
import json
from pathlib import Path

from spagan.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lineage", help="show or record which data, params and code produced a model")
    steps = p.add_subparsers(dest="lineage_command", required=True)

    show = steps.add_parser("show", help="print the lineage of a model folder")
    show.add_argument("model", help="model folder (or its model.safetensors or checkpoint.pt)")
    show.add_argument("--lock", default="dvc.lock", help="dvc.lock to check against (default: dvc.lock)")
    show.add_argument("--stage", default="train", help="stage of dvc.lock that made the model (default: train)")
    show.add_argument("--json", action="store_true", help="print lineage.json as it is")
    show.set_defaults(func=run_show)

    start = steps.add_parser("start", help="prepare the training work folder: keep only an unfinished run "
                             "started under the stage's current dependencies and params (it resumes)")
    start.add_argument("--work", required=True, help="training work folder (spagan train --out)")
    start.add_argument("--stage", default="train", help="the dvc.yaml stage whose deps and params are stamped")
    start.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    start.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="the same overrides the training uses (repeatable)")
    start.set_defaults(func=run_start)

    pub = steps.add_parser("publish", help="publish a finished run as the model folder, with lineage.json")
    pub.add_argument("--work", required=True, help="training work folder holding the finished run")
    pub.add_argument("--model", required=True, help="model folder to replace")
    pub.add_argument("--data", required=True, help="prepared images the run trained on")
    pub.add_argument("--manifest", required=True, help="manifest.csv of those images")
    pub.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    pub.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="the same overrides the training used (repeatable)")
    pub.set_defaults(func=run_publish)

    gate = steps.add_parser("gate", help="write the selection gate the train stage depends on: the scoring code "
                            "and eval settings when train.publish is best, only the choice when it is last")
    gate.add_argument("--out", required=True, help="the gate file (dvc.yaml: runs/selection_gate.json)")
    gate.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    gate.set_defaults(func=run_gate)


def run_show(args: argparse.Namespace) -> int:
    from spagan.lineage.record import compare_with_lock, lineage_summary, read_lineage, read_stage_lock

    lineage = read_lineage(args.model)
    if args.json:
        print(json.dumps(lineage, indent=2))
        return 0
    print(lineage_summary(lineage))
    if Path(args.lock).is_file():
        problems = compare_with_lock(lineage, read_stage_lock(args.lock, args.stage))
        if problems:
            print(f"{args.lock}: describes another run of stage {args.stage!r}:")
            print("\n".join(f"  {p}" for p in problems))
        else:
            print(f"{args.lock}: stage {args.stage!r} matches this model's data, code and params")
        from spagan.lineage.chain import format_chain, lock_chain

        print(f"pipeline chain in {args.lock} (raw source -> prepared data -> model -> evaluation):")
        print(format_chain(lock_chain(args.lock)))
    return 0


def run_start(args: argparse.Namespace) -> int:
    from spagan.lineage.stamp import stage_stamp, start_run

    cfg = load_config(args.params, args.overrides)
    reason = start_run(args.work, stage_stamp(Path(args.params).parent, args.stage, cfg))
    if reason:
        print(f"{args.work}: cleared, {reason}; training from step 0")
    return 0


def run_publish(args: argparse.Namespace) -> int:
    from spagan.lineage.record import lineage_summary, publish_run

    cfg = load_config(args.params, args.overrides)
    lineage = publish_run(cfg, args.work, args.model, data_dir=args.data, manifest=args.manifest)
    print(f"published {args.model}")
    print(lineage_summary(lineage))
    return 0


def run_gate(args: argparse.Namespace) -> int:
    from spagan.lineage.gate import write_gate

    record = write_gate(Path(args.params).parent, load_config(args.params), args.out)
    what = "the scoring code and eval settings" if record["publish"] == "best" else "nothing that retrains"
    print(f"{args.out}: train.publish={record['publish']}: {what}")
    return 0
