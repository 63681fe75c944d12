"""CNN architectures by name.

Every model built here takes **raw grayscale pixels** (0-255, shape ``(N, 48, 48, 1)``) and
returns 7 probabilities in the order of :data:`deepfer.labels.EMOTIONS`: pixel scaling is a
layer inside the model, so training and serving cannot drift apart.

>>> from deepfer.model.archs import build_model, available
>>> available()
['seed', 'vgg', 'vgg_wide']
>>> model = build_model("vgg")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deepfer.labels import INPUT_SHAPE, NUM_CLASSES


@dataclass(frozen=True)
class ArchSpec:
    name: str
    builder: Callable[..., object]
    description: str


_REGISTRY: dict[str, ArchSpec] = {}


def register(name: str, description: str):
    """Decorator: make ``builder(input_shape, num_classes)`` available as ``build_model(name)``."""

    def wrap(fn):
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} is registered twice")
        _REGISTRY[name] = ArchSpec(name, fn, description)
        return fn

    return wrap


def available() -> list[str]:
    return sorted(_REGISTRY)


def describe() -> dict[str, str]:
    return {n: s.description for n, s in sorted(_REGISTRY.items())}


def build_model(name: str, input_shape: tuple[int, int, int] = INPUT_SHAPE, num_classes: int = NUM_CLASSES):
    """Build an untrained model by registered name; ``KeyError`` listing the names for an unknown one."""
    try:
        spec = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown architecture {name!r}; available: {', '.join(available())}") from None
    return spec.builder(input_shape=input_shape, num_classes=num_classes)


def _input_and_scaling(input_shape, name: str):
    import keras
    from keras import layers

    inp = keras.Input(shape=input_shape, name="pixels")
    # Raw pixels 0-255 -> [-1, 1]. Part of the saved model on purpose.
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale_pixels")(inp)
    return inp, x


def _softmax_head(x, num_classes: int):
    from keras import layers

    # float32 output even under a mixed-precision policy.
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)


@register("seed", "The original DeepFER design: 4 conv blocks (64-128-256-512), dense 256-128 (~2.8M params).")
def seed(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES):
    import keras
    from keras import layers

    inp, x = _input_and_scaling(input_shape, "seed")
    for i, filters in enumerate((64, 128, 256, 512), start=1):
        x = layers.Conv2D(filters, 3, padding="same", name=f"block{i}_conv")(x)
        x = layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.ReLU(name=f"block{i}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
        x = layers.Dropout(0.25, name=f"block{i}_drop")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate((256, 128), start=1):
        x = layers.Dense(units, name=f"fc{i}")(x)
        x = layers.BatchNormalization(name=f"fc{i}_bn")(x)
        x = layers.ReLU(name=f"fc{i}_relu")(x)
        x = layers.Dropout(0.25, name=f"fc{i}_drop")(x)
    return keras.Model(inp, _softmax_head(x, num_classes), name="seed")


def _vgg(name, widths, convs, drops, dense, input_shape, num_classes):
    import keras
    from keras import layers

    inp, x = _input_and_scaling(input_shape, name)
    for i, (filters, n_conv, drop) in enumerate(zip(widths, convs, drops), start=1):
        for j in range(1, n_conv + 1):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal", name=f"s{i}_conv{j}")(x)
            x = layers.BatchNormalization(name=f"s{i}_bn{j}")(x)
            x = layers.ReLU(name=f"s{i}_relu{j}")(x)
        x = layers.MaxPooling2D(2, name=f"s{i}_pool")(x)
        if drop:
            x = layers.Dropout(drop, name=f"s{i}_drop")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense, use_bias=False, kernel_initializer="he_normal", name="fc")(x)
    x = layers.BatchNormalization(name="fc_bn")(x)
    x = layers.ReLU(name="fc_relu")(x)
    x = layers.Dropout(0.5, name="fc_drop")(x)
    return keras.Model(inp, _softmax_head(x, num_classes), name=name)


@register("vgg", "DeepFER's default: VGG-style, 10 conv layers 32-64-128-256 (2-2-3-3), dense 256 (~2.5M params), fast on CPU.")
def vgg(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES):
    return _vgg("vgg", (32, 64, 128, 256), (2, 2, 3, 3), (0.0, 0.1, 0.2, 0.3), 256, input_shape, num_classes)


@register("vgg_wide", "Wider VGG-style, 10 conv layers 48-96-192-384 (2-2-3-3), dense 384 (~5.6M params): more accurate, ~2x slower.")
def vgg_wide(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES):
    return _vgg("vgg_wide", (48, 96, 192, 384), (2, 2, 3, 3), (0.0, 0.1, 0.2, 0.3), 384, input_shape, num_classes)


def build_augmenter(strength: float = 1.0, seed: int | None = None):
    """Training-time augmentation on raw pixels (identity at inference): flip, small rotation,
    shift, zoom, brightness/contrast and random erasing.  ``strength`` scales every range."""
    import keras
    from keras import layers

    s = float(strength)
    parts = [
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(0.04 * s, fill_mode="reflect", seed=seed),  # about +/-14 degrees
        layers.RandomTranslation(0.1 * s, 0.1 * s, fill_mode="reflect", seed=seed),
        layers.RandomZoom((-0.15 * s, 0.15 * s), fill_mode="reflect", seed=seed),
        layers.RandomBrightness(0.2 * s, value_range=(0, 255), seed=seed),
        layers.RandomContrast(0.3 * s, value_range=(0, 255), seed=seed),
        layers.RandomErasing(factor=0.5 * min(s, 1.0), scale=(0.02, 0.15), value_range=(0, 255), seed=seed),
    ]
    return keras.Sequential(parts, name="augment")


def with_flip_tta(net, name: str | None = None):
    """Wrap ``net`` so the saved model averages its prediction for a face and its mirror image.

    One network (shared weights) run twice; the mirror is a frozen anti-diagonal ``Dense`` over
    the width axis, so the file uses built-in layers only and loads in plain Keras, ``.keras``
    and ``.h5`` alike. Integer pixel values are mirrored exactly, also in bfloat16.
    """
    import keras
    import numpy as np
    from keras import layers

    h, w, c = net.input_shape[1:]
    inp = keras.Input(shape=(h, w, c), name="pixels")
    t = layers.Permute((1, 3, 2), name="to_width_last")(inp)
    mirror = layers.Dense(w, use_bias=False, trainable=False, name="mirror_width")
    t = mirror(t)
    t = layers.Permute((1, 3, 2), name="from_width_last")(t)
    out = layers.Average(dtype="float32", name="tta_average")([net(inp), net(t)])
    mirror.set_weights([np.eye(w, dtype="float32")[::-1]])
    return keras.Model(inp, out, name=name or f"{net.name}_flip_tta")


def has_flip_tta(model) -> bool:
    """Whether ``model`` is a :func:`with_flip_tta` wrapper (it holds the frozen mirror layer)."""
    return any(layer.name == "mirror_width" for layer in model.layers)


def inner_network(model, arch: str):
    """The bare network inside a flip-TTA wrapper (or ``model`` itself when it is bare)."""
    if model.name == arch:
        return model
    names = [layer.name for layer in model.layers]
    return model.get_layer(arch) if arch in names else model


def build_inference_model(arch: str, source, tta: bool, policy: str = "float32"):
    """Rebuild ``arch`` (optionally with flip-TTA) under a dtype policy, with ``source``'s weights.

    ``source`` is a bare network or a flip-TTA model of that architecture. Used to export
    float32 files and to run a float32 model in bfloat16 on CPUs that compute it natively.
    """
    import keras

    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        net = build_model(arch)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    net.set_weights(inner_network(source, arch).get_weights())
    return with_flip_tta(net) if tta else net
