"""Time ``fer.classes.Video.analyze`` on one video; runs inside the separate venv that has ``fer``.

Prints one JSON line: frames, frames_with_face, seconds, fps.  Kept free of DeepFER imports so
it runs in an environment where only ``fer`` (and its TensorFlow) is installed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    video_path, repeats = os.path.abspath(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2
    import cv2

    cv2.waitKey = lambda *a, **k: -1  # fer calls it even with display off; headless OpenCV lacks it
    cv2.imshow = lambda *a, **k: None
    cv2.destroyAllWindows = lambda *a, **k: None
    from fer.classes import Video
    from fer.fer import FER

    detector = FER(mtcnn=False)  # fer's default: OpenCV Haar cascade
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # fer creates an output folder in the working directory
        try:
            for i in range(repeats + 1):  # the first run warms up TensorFlow and is not counted
                video = Video(video_path, outdir=tmp)
                t0 = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    raw = video.analyze(detector, display=False, output="pandas", save_frames=False, save_video=False,
                                        annotate_frames=False, zip_images=False)
                dt = time.perf_counter() - t0
                if i or repeats == 0:  # repeats 0: one cold run, for whole-process timing
                    results.append(dt)
                if repeats == 0:
                    break
        finally:
            os.chdir(cwd)
    cap = cv2.VideoCapture(video_path)
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    best = min(results)  # the least disturbed run on a shared machine
    print(json.dumps({"frames": frames, "frames_with_face": len(raw), "seconds": best, "fps": frames / best}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
