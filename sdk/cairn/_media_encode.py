"""Turning what users log into bytes: PNG images, WAV audio, matplotlib and plotly figures.

PNG and WAV are written with the standard library (``zlib``, ``wave``) from numpy arrays, so
logging images needs neither Pillow nor any other extra; with the ``media`` extra installed
(``pip install 'cairn-sdk[media]'``), PNG's deflate is done by ISA-L (``isal``: the same zlib
stream, about five times faster than ``zlib`` at level 1, which is what an image's logging costs
the training thread: docs/media.md); numpy is imported only when the caller
passed an array, a tensor or a PIL image (``import cairn`` never imports it:
tests/sdk/unit/test_import_cost.py). A PIL image is read through its own ``numpy`` bridge; a file
path is stored as it is (PNG or JPEG, recognised by its first bytes). Unsupported input raises
:class:`~cairn.errors.ValidationError` naming the argument and the rule ``media_type``.
"""

from __future__ import annotations

import io
import struct
import wave
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn import _checks as checks

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA


def _fast_deflate() -> Callable[[bytes], bytes]:
    """A zlib stream of the bytes, fast: ISA-L when installed, else zlib at level 1."""
    try:
        from isal import isal_zlib
    except ImportError:
        return lambda data: zlib.compress(data, 1)
    return lambda data: isal_zlib.compress(data, 1)


deflate = _fast_deflate()


@dataclass(frozen=True, slots=True)
class Encoded:
    """Bytes to store, their content type and, for images, their size in pixels."""

    data: bytes
    content_type: str
    width: int = 0
    height: int = 0


def image_bytes(image: Any, field: str = "image") -> Encoded:
    """``image`` as PNG (arrays, tensors, PIL images) or as stored (a PNG or JPEG file's path).

    Arrays are ``H x W`` (grey), ``H x W x C`` or ``C x H x W`` (torch's order) with 1, 3 or 4
    channels; integers are taken as 0-255, floats as 0.0-1.0 (clipped)."""
    if isinstance(image, (str, Path)):
        return _image_file(Path(image).expanduser(), field)
    return png(_pixels(image, field), field)


def mask_bytes(mask: Any, width: int, height: int, field: str) -> Encoded:
    """A segmentation mask (``H x W`` class ids 0-255, the image's size) as a grey PNG."""
    np = _numpy()
    array = np.asarray(_as_array(mask, field))
    if array.ndim != 2:
        checks.fail(field, "media_shape", f"a mask is H x W class ids, got shape {array.shape}")
    if (array.shape[1], array.shape[0]) != (width, height):
        detail = f"is {array.shape[1]}x{array.shape[0]}, the image is {width}x{height}"
        checks.fail(field, "mask_size", detail)
    if array.size and (array.min() < 0 or array.max() > 255):
        checks.fail(field, "media_range", "class ids must lie in 0..255")
    return png(array.astype(np.uint8), field)


def png(pixels: Any, field: str) -> Encoded:
    """Encode ``H x W`` or ``H x W x C`` uint8 pixels as PNG. The Up filter and zlib level 1:
    smooth images shrink to a few KiB, photos by about a third, and encoding a 256 x 256 RGB
    image takes 0.3-3 ms with zlib, about 0.5 ms with ISA-L (filter None at level 6 took 4 ms and
    stored every image nearly raw)."""
    np = _numpy()
    array = np.ascontiguousarray(pixels, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    height, width, channels = array.shape
    if width == 0 or height == 0:
        checks.fail(field, "media_shape", "an image needs at least one pixel")
    flat = array.reshape(height, width * channels)
    rows = np.empty((height, width * channels + 1), dtype=np.uint8)
    rows[:, 0] = 2  # filter type Up on every row: each byte minus the one above (mod 256)
    rows[0, 1:] = flat[0]  # the row above the first is zeros
    np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOUR_TYPES[channels], 0, 0, 0)
    data = b"".join(
        (
            _PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", deflate(rows.tobytes())),
            _chunk(b"IEND", b""),
        )
    )
    return Encoded(data, "image/png", width, height)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header; (0, 0) when ``data`` is not a PNG."""
    if data[:8] != _PNG_SIGNATURE or len(data) < 24:
        return 0, 0
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def wav(samples: Any, sample_rate: int, field: str = "samples") -> tuple[Encoded, float]:
    """Mono (``n``) or multichannel (``n x channels``) samples as 16-bit PCM WAV, and the clip's
    duration in seconds. Floats are taken as -1.0..1.0 (clipped); int16 as they are."""
    np = _numpy()
    array = np.asarray(_as_array(samples, field))
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or not 1 <= array.shape[1] <= 8:
        detail = f"audio is n or n x channels (1-8) samples, got shape {array.shape}"
        checks.fail(field, "media_shape", detail)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            checks.fail(field, "media_range", "samples must be finite")
        pcm = (np.clip(array, -1.0, 1.0) * 32767).astype("<i2")
    elif array.dtype.kind in "iu":
        pcm = np.clip(array, -32768, 32767).astype("<i2")
    else:
        checks.fail(field, "media_type", f"samples must be numbers, got dtype {array.dtype}")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(int(pcm.shape[1]))
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.ascontiguousarray(pcm).tobytes())
    return Encoded(buffer.getvalue(), "audio/wav"), pcm.shape[0] / sample_rate


def figure_bytes(fig: Any, field: str = "fig") -> dict[str, Encoded]:
    """A matplotlib figure as ``{"image": PNG, "svg": SVG}``; a plotly figure as
    ``{"plotly": JSON}`` (kept interactive: the portal draws it with plotly)."""
    module = type(fig).__module__
    if module.startswith("plotly") and hasattr(fig, "to_json"):
        return {"plotly": Encoded(str(fig.to_json()).encode(), "application/json")}
    if hasattr(fig, "savefig"):
        rendered = {}
        for role, fmt, content_type in (
            ("image", "png", "image/png"),
            ("svg", "svg", "image/svg+xml"),
        ):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, bbox_inches="tight")
            data = buffer.getvalue()
            width, height = png_size(data)
            rendered[role] = Encoded(data, content_type, width, height)
        return rendered
    detail = (
        f"must be a matplotlib or plotly figure, got {type(fig).__module__}.{type(fig).__name__}"
    )
    checks.fail(field, "media_type", detail)
    return None


def _image_file(path: Path, field: str) -> Encoded:
    if not path.is_file():
        checks.fail(field, "exists", f"{str(path)!r} is not a file")
    data = path.read_bytes()
    if data[:8] == _PNG_SIGNATURE:
        width, height = png_size(data)
        return Encoded(data, "image/png", width, height)
    if data[:3] == b"\xff\xd8\xff":
        return Encoded(data, "image/jpeg", *_jpeg_size(data))
    checks.fail(field, "media_type", f"{str(path)!r} is neither a PNG nor a JPEG file")
    return None


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's start-of-frame marker; (0, 0) if none is found."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + length
    return 0, 0


def _pixels(image: Any, field: str) -> Any:
    np = _numpy()
    array = np.asarray(_as_array(image, field))
    if array.ndim == 3 and _channels_first(array.shape):
        array = array.transpose(1, 2, 0)  # C x H x W (torch) -> H x W x C
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        detail = f"an image is H x W, H x W x C or C x H x W with 1, 3 or 4 channels, got shape {array.shape}"
        checks.fail(field, "media_shape", detail)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            checks.fail(field, "media_range", "pixel values must be finite")
        return (np.clip(array, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if array.dtype.kind == "b":
        return array.astype(np.uint8) * 255
    if array.dtype.kind not in "iu":
        checks.fail(field, "media_type", f"pixels must be numbers, got dtype {array.dtype}")
    return np.clip(array, 0, 255).astype(np.uint8)


def _channels_first(shape: tuple[int, ...]) -> bool:
    """Whether a 3-d image is C x H x W: its first axis looks like channels and its last does
    not (or it has one channel first: 1 x H x W)."""
    first, last = shape[0], shape[-1]
    return (first in (1, 3, 4) and last not in (1, 3, 4)) or (first == 1 and last != 1)


def _as_array(value: Any, field: str) -> Any:
    """A numpy array from an array, a tensor (``detach().cpu().numpy()``), a PIL image or a
    nested list; anything else is a ``media_type`` error."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    if type(value).__module__.startswith("PIL") and hasattr(value, "mode"):
        if value.mode not in ("L", "LA", "RGB", "RGBA"):
            value = value.convert("RGBA" if "A" in value.mode else "RGB")
        return _numpy().asarray(value)
    if hasattr(value, "__array__") or isinstance(value, (list, tuple)):
        return value
    detail = (
        f"must be a numpy array, torch tensor, PIL image or file path, got {type(value).__name__}"
    )
    checks.fail(field, "media_type", detail)
    return None


def _numpy() -> Any:
    import numpy  # only here: ``import cairn`` stays free of numpy

    return numpy


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
