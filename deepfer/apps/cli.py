"""``python -m deepfer``: train | export | evaluate | cache | bench | framing | gradio."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from deepfer.errors import DeepFERError

MODEL_HELP = "model: .keras/.h5 (its .int8.xml serving model is used when present) or an .int8.xml (default: models/deepfer.keras or $DEEPFER_MODEL)"
RUNTIME_CHOICES = ["auto", "openvino", "keras"]
RUNTIME_HELP = ("auto: the int8 OpenVINO serving model when present, else Keras; openvino: only that; "
                "keras: the .keras/.h5 on TensorFlow (needs pip install -e '.[keras]')")

EPILOG = """examples:
  python -m deepfer train --data ../shared/data/fer2013 --arch vgg --epochs 150 --out models
  python -m deepfer train --resume --out models            # continue an interrupted run
  python -m deepfer export --model models/deepfer.keras --data ../shared/data/fer2013
  python -m deepfer evaluate --data ../shared/data/fer2013/validation
  python -m deepfer bench --data ../shared/data/fer2013/validation
"""


def _add_train(sub) -> None:
    from deepfer.model.archs import available
    from deepfer.training.train import TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a CNN and save .keras, .h5, metadata, history and evaluation",
        description="Train an emotion CNN. DATA is a folder with train/ and validation/ class folders "
        "(<split>/<class>/<images>), a fer2013.csv, or an .npz made by `deepfer cache`. The best epoch "
        "(by validation accuracy) is exported to OUT/<name>.keras and OUT/<name>.h5.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", help="dataset root, fer2013.csv or .npz cache (required unless --resume)")
    p.add_argument("--arch", default=d.arch, choices=available(), help="architecture")
    p.add_argument("--epochs", type=int, default=d.epochs, help="maximum epochs (with --resume: the new total)")
    p.add_argument("--out", default="runs/latest", help="output folder")
    p.add_argument("--name", default=d.name, help="file stem of the exported model")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--optimizer", default=d.optimizer, choices=["sgd", "adamw"])
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--schedule", default=d.schedule, choices=["cosine", "plateau"], help="learning-rate schedule")
    p.add_argument("--warmup-epochs", type=int, default=d.warmup_epochs)
    p.add_argument("--patience", type=int, default=d.patience, help="early stopping: epochs without val_accuracy gain")
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--class-weight-power", type=float, default=d.class_weight_power,
                   help="class weights (N/(K*n_c))**p against imbalance (tiny 'disgust'); 0 turns them off")
    p.add_argument("--augment", type=float, default=d.augment, help="augmentation strength (0 = off)")
    p.add_argument("--precision", default=d.precision, choices=["auto", "float32", "bfloat16"],
                   help="auto = mixed bfloat16 on GPUs and CPUs with native bf16")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--time-limit", type=float, default=None, metavar="MIN",
                   help="stop cleanly after MIN minutes; continue later with --resume")
    p.add_argument("--no-export-tta", dest="export_tta", action="store_false",
                   help="export the bare network instead of one that averages face and mirror image")
    p.add_argument("--time-budget", type=float, default=None, metavar="MIN",
                   help="after 3 epochs, shorten --epochs so the whole LR schedule ends within MIN minutes")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    p.add_argument("--quiet", action="store_true", help="one log line per epoch instead of a progress bar")


def _run_train(a) -> int:
    from deepfer.training.train import TrainConfig, train

    if not a.data:
        if not a.resume:
            raise DeepFERError("--data is required (a dataset root, fer2013.csv or .npz)")
        meta_state = Path(a.out) / "checkpoint" / "state.json"
        raise DeepFERError(f"--data is required with --resume too (the data is not stored in {meta_state})")
    cfg = TrainConfig(
        arch=a.arch, epochs=a.epochs, batch_size=a.batch_size, optimizer=a.optimizer, lr=a.lr,
        weight_decay=a.weight_decay, schedule=a.schedule, warmup_epochs=a.warmup_epochs, patience=a.patience,
        label_smoothing=a.label_smoothing, class_weight_power=a.class_weight_power, augment=a.augment,
        precision=a.precision, seed=a.seed, time_limit_min=a.time_limit, time_budget_min=a.time_budget, export_tta=a.export_tta, name=a.name,
    )
    meta = train(a.data, a.out, cfg, resume=a.resume, verbose=2 if a.quiet else 1)
    v = meta["validation"]
    print(f"saved {Path(a.out) / meta['files']['keras']} and .h5: validation accuracy {v['accuracy']:.4f} "
          f"(single pass {v['accuracy_single_pass']:.4f}), macro-F1 {v['macro_f1']:.4f}; {meta['training']['stop_reason']}")
    return 0


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="accuracy, macro-F1, per-class P/R/F1 and confusion matrix on a split",
        description="Evaluate a model on a split folder (<split>/<class>/<images>), a dataset root "
        "(its --split), a fer2013.csv (its --split) or an .npz cache.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", required=True, help="split folder, dataset root, fer2013.csv or .npz")
    p.add_argument("--split", default="validation", help="split to use when DATA holds several (train, validation, test)")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--runtime", default="auto", choices=RUNTIME_CHOICES, help=RUNTIME_HELP)
    p.add_argument("--tta", action="store_true",
                   help="average with the horizontally flipped face (no effect on models exported with flip-TTA inside)")
    p.add_argument("--json", default=None, metavar="OUT", help="write the full report as JSON")


def _run_evaluate(a) -> int:
    from deepfer.fileio import write_json_atomic as write_json
    from deepfer.model.classifier import EmotionClassifier
    from deepfer.training.data import load_any_split
    from deepfer.training.metrics import classification_report, format_report

    clf = EmotionClassifier.load(a.model, runtime=a.runtime)
    ds = load_any_split(a.data, a.split)
    if ds.skipped:
        print(f"note: skipped {len(ds.skipped)} unreadable file(s), e.g. {ds.skipped[0][0]}: {ds.skipped[0][1]}", file=sys.stderr)
    probs = clf.predict(ds.images)
    if a.tta:
        probs = 0.5 * (probs + clf.predict(ds.images[:, :, ::-1]))
    report = classification_report(ds.labels, probs.argmax(1))
    report.update({"model": str(clf.path), "runtime": clf.runtime, "precision": clf.precision, "data": ds.source,
                   "tta_flip": a.tta, "skipped": len(ds.skipped)})
    print(f"{clf.describe()} ({clf.path}) on {ds.source} ({len(ds)} faces{', flip-TTA' if a.tta else ''})")
    print(format_report(report))
    if a.json:
        write_json(a.json, report)
        print(f"wrote {a.json}")
    return 0


def _add_export(sub) -> None:
    from deepfer.training.export import CALIBRATION_FACES, PRESETS

    p = sub.add_parser(
        "export",
        help="turn a trained .keras model into its int8 OpenVINO serving model (x.int8.xml/.bin/.json)",
        description="Export MODEL (.keras/.h5) for serving: OpenVINO IR quantized to int8 with NNCF, calibrated on "
        "faces of the TRAINING split of DATA (never validation), written beside MODEL as <stem>.int8.xml/.bin with "
        "<stem>.int8.json (metadata, source checksum, float vs int8 validation accuracy). Training runs this at its end. "
        "Needs the train extra (pip install -e '.[train]').",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", default=None, help="trained model .keras/.h5 (default: models/deepfer.keras or $DEEPFER_MODEL)")
    p.add_argument("--data", default=None, help="dataset root with train/ (and validation/ for the accuracy check), "
                   "fer2013.csv or .npz (default: $DEEPFER_DATA or ../shared/data/fer2013)")
    p.add_argument("--calibration", type=int, default=CALIBRATION_FACES, help="training faces to calibrate int8 ranges on")
    p.add_argument("--preset", default="performance", choices=PRESETS, help="NNCF quantization preset")
    p.add_argument("--seed", type=int, default=0, help="which calibration faces are drawn")


def _run_export(a) -> int:
    from deepfer.config import dataset_dir, default_model_path
    from deepfer.training.data import load_splits
    from deepfer.training.export import export_serving, format_export

    data = a.data or dataset_dir()
    if data is None:
        raise DeepFERError("--data is required: a dataset with a train split to calibrate on")
    model = Path(a.model) if a.model else default_model_path()
    if model.suffix not in (".keras", ".h5"):
        raise DeepFERError(f"{model}: export takes a trained .keras/.h5 model")
    try:
        splits = load_splits(data, ("train", "validation"))
    except DeepFERError:
        splits = load_splits(data, ("train",))
        print("note: no validation split: the int8 model's accuracy is not checked", file=sys.stderr)
    meta = export_serving(model, splits["train"], splits.get("validation"), calibration=a.calibration, preset=a.preset, seed=a.seed)
    print(format_export(meta))
    return 0


def _add_cache(sub) -> None:
    p = sub.add_parser(
        "cache",
        help="decode a dataset once into a compressed .npz for fast repeated training",
        description="Decode DATA (root folder or fer2013.csv) into one .npz that `train --data` and `evaluate --data` accept.",
    )
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--splits", default="train,validation", help="comma-separated split names")


def _run_cache(a) -> int:
    from deepfer.training.data import load_splits, save_npz

    splits = load_splits(a.data, [s.strip() for s in a.splits.split(",") if s.strip()])
    save_npz(a.out, splits)
    print(json.dumps({k: v.summary() for k, v in splits.items()}, indent=1))
    print(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB)")
    return 0


def _add_bench(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="the classifier on each runtime side by side: crops/s, one-face latency, start-up, memory, accuracy",
        description="Benchmark classification of 48x48 face crops on each runtime (OpenVINO int8 serving model, Keras): "
        "batched throughput and single-face latency (medians over interleaved repeats), start-up to the first "
        "prediction and peak memory (fresh processes), and accuracy/macro-F1 on --data.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", default=None, help="model .keras/.h5 with its .int8.xml (default: models/deepfer.keras)")
    p.add_argument("--runtimes", default="openvino,keras", help="comma-separated runtimes to compare")
    p.add_argument("--n", type=int, default=2048, help="face crops per throughput run")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--single", type=int, default=200, help="single-face calls for the latency median")
    p.add_argument("--startups", type=int, default=3, help="fresh processes timed for start-up and peak memory (0: skip)")
    p.add_argument("--data", default=None, help="split folder (e.g. ../shared/data/fer2013/validation): real faces, and each runtime's accuracy on them (else random pixels)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the figures as JSON")


def _run_bench(a) -> int:
    from deepfer.training.bench import run_bench

    run_bench(a)
    return 0


def _add_framing(sub) -> None:
    p = sub.add_parser(
        "framing",
        help="measure which crop framing around a detector's box reproduces FER2013 framing",
        description="Upscales validation faces, detects them (Haar by default; several detectors with "
        "--detector haar,yunet), re-crops each face with every margin, as a square around the box and, for "
        "YuNet, also rotated upright from its eye landmarks, and reports accuracy per framing: the crop "
        "geometry the library uses for photos and video.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", required=True, help="split folder (e.g. ../shared/data/fer2013/validation)")
    p.add_argument("--model", default=None)
    p.add_argument("--detector", default="haar", help="detector name, or several separated by commas (haar, yunet, mtcnn)")
    p.add_argument("--margins", default="0,0.05,0.1,0.15,0.2,0.25,0.3",
                   help="margins as fractions of the box's longer side (of its width for the *-width framings), "
                   "separated by commas (may be negative)")
    p.add_argument("--limit", type=int, default=1500, help="faces to use (0 = all)")


def _run_framing(a) -> int:
    from deepfer.analysis.detect import DETECTORS
    from deepfer.training.framing import run_framing

    unknown = [d for d in a.detector.split(",") if d.strip() and d.strip() not in DETECTORS]
    if unknown or not a.detector.strip(","):
        raise DeepFERError(f"unknown detector {', '.join(unknown) or a.detector!r}; available: {', '.join(DETECTORS)}")
    try:
        [float(m) for m in a.margins.split(",")]
    except ValueError:
        raise DeepFERError(f"--margins must be numbers separated by commas, got {a.margins!r}") from None
    run_framing(a)
    return 0


def _add_gradio(sub) -> None:
    p = sub.add_parser(
        "gradio",
        help="serve the Gradio web UI and its /predict HTTP API",
        description="Serve DeepFER with Gradio: Image, Webcam and Video tabs and an API endpoint /predict. "
        "Binds to 127.0.0.1 unless --host says otherwise (use --host 0.0.0.0 to expose it deliberately).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--runtime", default="auto", choices=RUNTIME_CHOICES, help=RUNTIME_HELP)


def _run_gradio(a) -> int:
    from deepfer.apps.gradio_app import serve

    serve(a)
    return 0


def _add_report(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write report.html: one self-contained page of charts and tables of a batch output folder",
        description="Compare the videos of a batch output folder (share of time per emotion per video and per face, every "
        "face's emotion segments on one time axis), with the images' emotions and the failed inputs, in one HTML "
        "file that opens offline in any browser (needs Plotly: pip install -e '.[dashboard]').",
    )
    p.add_argument("folder", metavar="OUT_DIR", help="a folder written by python -m batch --out")


def _run_report(a) -> int:
    from deepfer.outputs.report import write_report

    print(write_report(a.folder))
    return 0


COMMANDS = {
    "train": (_add_train, _run_train),
    "export": (_add_export, _run_export),
    "evaluate": (_add_evaluate, _run_evaluate),
    "cache": (_add_cache, _run_cache),
    "bench": (_add_bench, _run_bench),
    "framing": (_add_framing, _run_framing),
    "gradio": (_add_gradio, _run_gradio),
    "report": (_add_report, _run_report),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deepfer",
        description="DeepFER: facial emotion recognition (7 emotions from 48x48 grayscale faces).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return COMMANDS[args.command][1](args)
    except DeepFERError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
