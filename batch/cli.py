"""``python -m batch INPUT... --out DIR``: emotions of image folders and videos into CSVs."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from deepfer.analysis.detect import DEFAULT_DETECTOR, DETECTOR_CHOICES, DETECTOR_HELP
from deepfer.analysis.temporal import DEFAULT_TEMPORAL

EPILOG = """outputs (in --out DIR):
  <video-stem>.csv            one row per (frame, face), and one per analyzed frame with no face
  <video-stem>.summary.json   share of time in each emotion and emotion segments, per face and overall
  <video-stem>.annotated.mp4  with --annotate: boxes, emotions and face ids drawn
  images.csv                  one row per (image, face), and one per image with no face
  errors.csv                  inputs that could not be processed, with the reason
  skipped.csv                 files in the input folders that are not media (or hidden), with the reason
  manifest.json               which input (path, size, content hash) and settings made each output
  report.html                 with --report: every video compared (shares, timelines), images, failures

exit status: 0 all inputs done, 1 some inputs failed (see errors.csv), 2 the run could not start.

examples:
  python -m batch lecture.mp4 --out results --annotate
  python -m batch photos/ clips/ --out results --stride 2 --smooth-s 1 --hold-s 2
  python -m batch interview.mp4 --out results --raw      # per-frame emotions, no temporal model
  python -m batch photos/ --out results --sort-into sorted_photos
  python -m batch photos/ clips/ --out results --resume      # after an interruption
  python -m batch clips/ --out results --engine ray --workers 2          # a private local Ray
  python -m batch /shared/clips --out /shared/results --engine ray --address HEAD:6379   # a Ray cluster
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m batch",
        description="Facial emotion analysis of images, videos and folders of them (searched recursively) "
        "into per-frame CSV files, with face ids that stay stable across a video's frames.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, video files or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--model", metavar="PATH", help="emotion model: .keras/.h5 (its .int8.xml serving model is used when present) "
                   "or an .int8.xml (default: the committed models/deepfer.keras, served as models/deepfer.int8.xml)")
    p.add_argument("--runtime", default="auto", choices=["auto", "openvino", "keras"],
                   help="auto (default): the int8 OpenVINO serving model when present, else Keras; keras: the .keras/.h5 "
                   "on TensorFlow (pip install -e '.[keras]')")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTOR_CHOICES, help=f"face detector: {DETECTOR_HELP}")
    p.add_argument("--stride", type=int, default=1, metavar="N", help="analyze every Nth video frame (rows keep true frame numbers; default 1)")
    p.add_argument("--smooth-s", type=float, default=DEFAULT_TEMPORAL.smooth_s, metavar="SEC",
                   help="time constant, in seconds, of the exponential smoothing of each face's probabilities "
                   f"(smooth_<emotion> columns; default {DEFAULT_TEMPORAL.smooth_s}; 0: off)")
    p.add_argument("--hold-s", type=float, default=DEFAULT_TEMPORAL.hold_s, metavar="SEC",
                   help="a face's emotion (the emotion column, summaries, annotated video) changes only after another "
                   f"emotion has led the smoothed probabilities for SEC seconds (default {DEFAULT_TEMPORAL.hold_s}; 0: at once)")
    p.add_argument("--raw", action="store_true", help="per-frame emotions: the same as --smooth-s 0 --hold-s 0")
    p.add_argument("--annotate", action="store_true", help="also write <video-stem>.annotated.mp4")
    p.add_argument("--sort-into", metavar="DIR2", help="copy single-face images into DIR2/<emotion>/ (others to _multiple/, _no_face/)")
    p.add_argument("--report", action="store_true",
                   help="also write report.html: charts and tables of the whole output folder in one self-contained page "
                   "(needs Plotly: pip install -e '.[dashboard]')")
    p.add_argument("--resume", action="store_true",
                   help="keep outputs that manifest.json says were made from the same file with the same options, model and "
                   "detector; redo the rest; continue a cut-off video from its last checkpoint")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="local (default): this process; ray: Ray workers, each holding one loaded model (pip install -r requirements-ray.txt)")
    p.add_argument("--address", metavar="ADDR",
                   help="with --engine ray: a running Ray cluster (HOST:6379, auto, ray://HOST:10001); inputs and --out must be "
                   "at the same paths on every node. Default: start a private local Ray")
    p.add_argument("--workers", type=int, metavar="N", help="with --engine ray: model-holding workers, one CPU each (default: all CPUs)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.engine != "ray" and (args.address is not None or args.workers is not None):
        parser.error("--address and --workers need --engine ray")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # "moov atom not found" etc. go to errors.csv instead
    from deepfer.errors import DeepFERError

    try:
        options = dict(model=args.model, runtime=args.runtime, detector=args.detector, stride=args.stride,
                       smooth_s=0.0 if args.raw else args.smooth_s, hold_s=0.0 if args.raw else args.hold_s,
                       annotate=args.annotate, sort_into=args.sort_into, resume=args.resume, progress=args.progress)
        if args.engine == "ray":
            from batch.engines.ray import run_batch_ray

            report = run_batch_ray(args.inputs, args.out, address=args.address, workers=args.workers, **options)
        else:
            from batch.engines.local import run_batch

            report = run_batch(args.inputs, args.out, **options)
    except DeepFERError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished files are kept; run again with --resume to continue", file=sys.stderr)
        return 130
    print(report.summary_line())
    if args.report:
        from deepfer.outputs.report import write_report

        try:
            print(f"report: {write_report(args.out)}")
        except DeepFERError as exc:
            print(f"error: no report: {exc}", file=sys.stderr)
            return 2
    return 0 if report.ok else 1
