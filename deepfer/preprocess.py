"""Preprocessing, written once: any image or face crop -> 48x48 grayscale uint8.

Training (dataset loading), evaluation, batch, webcam and Gradio all call these functions;
scaling of pixel values lives inside the saved model, so this module never normalizes.
Every image file or upload enters through :func:`read_image` or :func:`decode_image`, which apply the one
pixel limit (:func:`deepfer.config.max_pixels`) from the image header, before decoding.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from deepfer.errors import ImageError
from deepfer.labels import INPUT_SIZE

#: Default margin added around a detector's box, as a fraction of the box side, so that a crop
#: is framed like a FER2013 face (see ``python -m deepfer framing`` for how it was chosen).
DEFAULT_MARGIN = 0.0


def to_gray(image: np.ndarray) -> np.ndarray:
    """Grayscale uint8 (H, W) from a gray, BGR or BGRA image (OpenCV channel order)."""
    import cv2

    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        img = cv2.cvtColor(img, code)
    if img.ndim != 2:
        raise ImageError(f"expected a gray or colour image, got an array of shape {img.shape}")
    if img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating) and img.size and float(img.max()) <= 1.0:
            img = img * 255.0
        img = np.clip(img, 0, 255).astype(np.uint8)
    return img


def to_model_input(image: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """One face image of any size and colour -> (size, size) grayscale uint8."""
    import cv2

    gray = to_gray(image)
    if gray.shape == (size, size):
        return gray
    h, w = gray.shape
    if h == 0 or w == 0:
        raise ImageError("empty image")
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(gray, (size, size), interpolation=interp)


def stack_faces(faces: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """A list of face images (any size/colour) or an array -> (N, 48, 48, 1) uint8 batch."""
    if isinstance(faces, np.ndarray) and faces.ndim == 4 and faces.shape[1:] == (INPUT_SIZE, INPUT_SIZE, 1):
        return faces.astype(np.uint8, copy=False)
    if isinstance(faces, np.ndarray) and (faces.ndim == 2 or (faces.ndim == 3 and faces.shape[2] in (1, 3, 4))):
        faces = [faces]  # one image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
    arr = [to_model_input(f) for f in faces]
    if not arr:
        return np.zeros((0, INPUT_SIZE, INPUT_SIZE, 1), np.uint8)
    return np.stack(arr)[..., None]


#: What the side of a square crop is measured from: the box's longer side (Haar's boxes are square)
#: or its width (YuNet's boxes are about 1.25:1 tall, and their height varies more with the chin and forehead).
SQUARE_SIDES = ("longer", "width")


def square_box(box: tuple[float, float, float, float], margin: float, shape: tuple[int, ...], side: str = "longer") -> tuple[int, int, int, int]:
    """Square crop (x0, y0, x1, y1) around a detector box ``(x, y, w, h)`` with ``margin``.

    The side is ``max(w, h) * (1 + 2 * margin)`` (``side="longer"``) or ``w * (1 + 2 * margin)``
    (``side="width"``), centred on the box; it may extend past the image, which :func:`crop_face`
    fills by replicating the border.
    """
    if side not in SQUARE_SIDES:
        raise ValueError(f"side must be one of {SQUARE_SIDES}, got {side!r}")
    x, y, w, h = box
    length = (max(w, h) if side == "longer" else w) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0 = int(round(cx - length / 2.0))
    y0 = int(round(cy - length / 2.0))
    s = max(1, int(round(length)))
    return x0, y0, x0 + s, y0 + s


def crop_face(image: np.ndarray, box: tuple[float, float, float, float], margin: float = DEFAULT_MARGIN, side: str = "longer") -> np.ndarray:
    """Cut a face framed like FER2013: square (:func:`square_box`), ``margin`` around ``box``, gray, 48x48 uint8."""
    import cv2

    gray = to_gray(image)
    H, W = gray.shape
    x0, y0, x1, y1 = square_box(box, margin, gray.shape, side)
    pad_l, pad_t = max(0, -x0), max(0, -y0)
    pad_r, pad_b = max(0, x1 - W), max(0, y1 - H)
    crop = gray[max(0, y0) : min(H, y1), max(0, x0) : min(W, x1)]
    if crop.size == 0:
        raise ImageError(f"face box {box} lies outside the {W}x{H} image")
    if pad_l or pad_t or pad_r or pad_b:
        crop = cv2.copyMakeBorder(crop, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
    return to_model_input(crop)


def eye_roll(left_eye, right_eye) -> float:
    """Roll of a face in degrees: the angle of the line from the person's right eye to their left eye
    (image coordinates, y down).  0 for an upright face; positive when the face is turned clockwise
    on screen (the person's left eye, on the image's right, lower than the right eye)."""
    dx, dy = np.asarray(left_eye, np.float64) - np.asarray(right_eye, np.float64)
    return float(np.degrees(np.arctan2(dy, dx)))


def upright_matrix(left_eye, right_eye) -> np.ndarray:
    """The 2x3 affine matrix (OpenCV's ``warpAffine`` convention, source -> upright) that rotates an
    image about the midpoint of the eyes so the eye line is horizontal, the person's right eye on the left."""
    import cv2

    mid = (np.asarray(left_eye, np.float64) + np.asarray(right_eye, np.float64)) / 2.0
    return cv2.getRotationMatrix2D((float(mid[0]), float(mid[1])), eye_roll(left_eye, right_eye), 1.0)


def align_upright(gray: np.ndarray, left_eye, right_eye) -> tuple[np.ndarray, np.ndarray]:
    """``gray`` rotated (same size, border replicated) so the face with these eyes stands upright,
    and the matrix used (map a point ``p`` with ``M @ (x, y, 1)``).  ``left_eye`` is the person's
    left eye (YuNet's landmark 1, on the image's right in a frontal, unmirrored face)."""
    import cv2

    img = to_gray(gray)
    m = upright_matrix(left_eye, right_eye)
    out = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out, m


def crop_face_upright(image: np.ndarray, box: tuple[float, float, float, float], landmarks, margin: float = DEFAULT_MARGIN,
                      side: str = "longer") -> np.ndarray:
    """:func:`crop_face` after rotating the face upright from its eye landmarks.

    ``landmarks``: the face's ``(5, 2)`` points in YuNet's order (person's right eye, left eye, ...).
    The image is rotated about the eye midpoint (:func:`upright_matrix`), the box centre moves with
    it, and the same square as :func:`square_box` is cut around it in one warp of just that square;
    level eyes give exactly :func:`crop_face`'s crop.
    """
    import cv2

    gray = to_gray(image)
    pts = np.asarray(landmarks, np.float64).reshape(-1, 2)
    m = upright_matrix(pts[1], pts[0])
    x, y, w, h = (float(v) for v in box)
    H, W = gray.shape
    if x >= W or y >= H or x + w <= 0 or y + h <= 0:
        raise ImageError(f"face box {box} lies outside the {W}x{H} image")
    cx, cy = m @ np.array([x + w / 2.0, y + h / 2.0, 1.0])
    x0, y0, x1, y1 = square_box((cx - w / 2.0, cy - h / 2.0, w, h), margin, gray.shape, side)
    m = m.copy()
    m[:, 2] -= (x0, y0)
    crop = cv2.warpAffine(gray, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return to_model_input(crop)


def _too_large(pixels: int, limit: int, size: tuple[int, int] | None = None) -> ImageError:
    from deepfer.config import ENV_MAX_PIXELS

    shape = f"{size[0]}x{size[1]} pixels ({pixels / 1e6:.0f} megapixels)" if size else f"{pixels / 1e6:.0f} megapixels"
    return ImageError(f"image too large: {shape}; the limit is {limit / 1e6:g} megapixels (set {ENV_MAX_PIXELS} to raise it)")


def check_pixels(width: int, height: int, limit: int | None = None) -> None:
    """ImageError when a ``width`` x ``height`` image is over ``limit`` pixels (default: the pixel limit,
    :func:`deepfer.config.max_pixels`)."""
    from deepfer.config import max_pixels

    limit = max_pixels() if limit is None else limit
    if width * height > limit:
        raise _too_large(width * height, limit, (width, height))


def header_size(source: str | Path | bytes, limit: int | None = None) -> tuple[int, int] | None:
    """``(width, height)`` of an image file or its bytes from the header alone (PIL decodes no pixel), or ``None``
    when PIL does not know the format (OpenCV may still decode it: :func:`read_image` then checks the decoded shape).

    PIL refuses to open an image over twice ``PIL.Image.MAX_IMAGE_PIXELS`` (a decompression bomb, 179 megapixels by
    default) without telling its size: that becomes the same ImageError as :func:`check_pixels` gives, unless
    ``$DEEPFER_MAX_PIXELS`` allows images that large, in which case ``None`` lets the decoded shape decide.
    """
    import PIL.Image

    from deepfer.config import max_pixels

    limit = max_pixels() if limit is None else limit
    fp = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source
    try:
        with PIL.Image.open(fp) as im:
            return im.size
    except PIL.Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else 2 * int(PIL.Image.MAX_IMAGE_PIXELS or 0) + 1
        if pixels > limit:
            raise _too_large(pixels, limit) from None
        return None
    except Exception:  # not a format PIL knows, or a corrupt header: OpenCV decides
        return None


def check_image_header(source: str | Path | bytes, limit: int | None = None) -> None:
    """Refuse an image over ``limit`` pixels (default: the pixel limit) BEFORE it is decoded (ImageError), from its
    header (:func:`header_size`)."""
    size = header_size(source, limit)
    if size is not None:
        check_pixels(*size, limit=limit)


def _decode(buf: np.ndarray, flags: int | None, source: str | Path | bytes) -> np.ndarray | None:
    """``cv2.imdecode`` of ``buf`` after the header check of ``source`` (the same file or bytes), and the decoded
    shape checked too (formats PIL cannot read)."""
    import cv2

    from deepfer.config import max_pixels

    limit = max_pixels()
    check_image_header(source, limit)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR if flags is None else flags)
    if img is not None:
        check_pixels(img.shape[1], img.shape[0], limit)
    return img


def read_image(path: str | Path, flags: int | None = None) -> np.ndarray:
    """Read an image file as BGR (or gray with ``flags=cv2.IMREAD_GRAYSCALE``); ImageError if unreadable or
    over the pixel limit (:func:`check_pixels`, checked from the header before decoding).

    Uses ``np.fromfile`` + ``cv2.imdecode`` so paths with spaces and non-ASCII characters work.
    """
    p = Path(path)
    if not p.is_file():
        raise ImageError(f"{p}: no such file")
    data = np.fromfile(str(p), dtype=np.uint8)
    if data.size == 0:
        raise ImageError(f"{p}: empty file (0 bytes)")
    try:
        img = _decode(data, flags, memoryview(data))  # the header from the bytes already read
    except ImageError as exc:
        raise ImageError(f"{p}: {exc}") from None
    if img is None:
        raise ImageError(f"{p}: not a readable image (corrupt or unsupported format)")
    return img


def decode_image(data: bytes, flags: int | None = None) -> np.ndarray:
    """Decode image bytes (an upload) as BGR; ImageError if they are not an image or are over the pixel limit."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise ImageError("empty upload (0 bytes)")
    img = _decode(buf, flags, data)
    if img is None:
        raise ImageError("not a readable image (corrupt or unsupported format)")
    return img
