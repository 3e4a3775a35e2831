"""Uploaded exercise pictures: checked by content, re-encoded without metadata, stored under
the upload directory (outside static/) with a random name.

Plain functions over bytes and a directory; the web layer reads the upload and records the
result with library.record_picture.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import struct
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from portal.services.errors import InvalidInput

if TYPE_CHECKING:
    from PIL import Image

MAX_BYTES = 5 * 1024 * 1024
MAX_SIDE = 6000
# Stored pictures are at most this many pixels on their longer side: plenty for a phone or a
# printed sheet, and light on a poor connection.
OUTPUT_SIDE = 1600
OUTPUT_QUALITY = 82
CONTENT_TYPE = "image/webp"
EXTENSION = "webp"
# Pillow names of the formats we accept; anything else (GIF, BMP, TIFF, SVG, PDF ...) is
# refused whatever the file is called.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,90}\.(png|jpg|webp)$")

NOT_AN_IMAGE = "Upload a PNG, JPEG or WebP image (photos from a phone are fine)."
TOO_BIG_FILE = f"The picture is larger than {MAX_BYTES // (1024 * 1024)} MB. Upload a smaller one."
TOO_MANY_PIXELS = (f"The picture is larger than {MAX_SIDE:,} × {MAX_SIDE:,} pixels. Upload a "
                   "smaller one.")
EMPTY = "The file is empty. Choose a picture to upload."
DAMAGED = "The picture looks damaged or incomplete. Save it again and upload the new copy."


@cache
def _pillow():
    """Pillow's Image module, imported on the first upload rather than by every web worker at
    start, with the decompression bomb limit set before any image is opened: Pillow warns
    above MAX_IMAGE_PIXELS and refuses above twice that; open() checks the size in the header
    before decoding, so a small file that would expand to gigabytes never does."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_SIDE * MAX_SIDE
    return Image


@dataclass(frozen=True)
class Encoded:
    """A picture re-encoded in memory, not yet stored."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        """Hex digest of the stored bytes (the HTTP ETag)."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Stored:
    """A picture written to the upload directory, ready for library.record_picture."""

    stored_name: str
    content_type: str
    width: int
    height: int
    byte_size: int
    sha256: str


def encode(data: bytes) -> Encoded:
    """Check that `data` is a PNG, JPEG or WebP image of a sane size and re-encode it as a
    WebP of at most OUTPUT_SIDE pixels a side, upright, in sRGB, with no metadata.

    Raises InvalidInput("picture", ...) for anything else.
    """
    if not data:
        raise InvalidInput("picture", EMPTY)
    if len(data) > MAX_BYTES:
        raise InvalidInput("picture", TOO_BIG_FILE)
    from PIL import UnidentifiedImageError

    Image = _pillow()  # the module, under its usual name
    try:
        with warnings.catch_warnings():
            # Above MAX_IMAGE_PIXELS Pillow only warns; treat that as a refusal too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
                width, height = image.size
                if width > MAX_SIDE or height > MAX_SIDE:
                    raise InvalidInput("picture", TOO_MANY_PIXELS)
                if width < 1 or height < 1:
                    raise InvalidInput("picture", DAMAGED)
                image.seek(0)  # an animation keeps only its first frame
                # JPEG can decode at 1/2, 1/4 or 1/8 scale: far less work for a big photo.
                image.draft(image.mode, (OUTPUT_SIDE, OUTPUT_SIDE))
                image.load()
                clean = _clean(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput("picture", TOO_MANY_PIXELS) from exc
    except UnidentifiedImageError as exc:
        raise InvalidInput("picture", NOT_AN_IMAGE) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        # Truncated or corrupt data surfaces as any of these while decoding.
        raise InvalidInput("picture", DAMAGED) from exc
    out = io.BytesIO()
    clean.save(out, format="WEBP", quality=OUTPUT_QUALITY, method=4)
    return Encoded(data=out.getvalue(), content_type=CONTENT_TYPE, extension=EXTENSION,
                   width=clean.width, height=clean.height)


def _clean(image: Image.Image) -> Image.Image:
    """A fresh image with the same pixels: turned upright, converted to sRGB, scaled down, and
    carrying no EXIF, XMP, ICC or text chunks (a new Image has an empty .info)."""
    from PIL import ImageOps

    Image = _pillow()  # the module, under its usual name
    upright = ImageOps.exif_transpose(image)
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info)
    mode = "RGBA" if has_alpha else "RGB"
    profile = image.info.get("icc_profile")
    pixels = _to_srgb(upright, profile, mode) if profile else None
    if pixels is None:
        pixels = upright.convert(mode)
    pixels.thumbnail((OUTPUT_SIDE, OUTPUT_SIDE), Image.Resampling.LANCZOS)
    fresh = Image.new(mode, pixels.size)
    fresh.paste(pixels)
    return fresh


def _to_srgb(image: Image.Image, profile: bytes, mode: str) -> Image.Image | None:
    """The image converted from its embedded colour profile to sRGB in `mode`, so the colours
    survive dropping the profile; None when the profile can't be used (then it is ignored)."""
    from PIL import ImageCms

    source_image = image if image.mode in ("RGB", "RGBA", "CMYK", "L") else image.convert(mode)
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        target = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(source_image, source, target, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def store(data: bytes, upload_dir: Path) -> Stored:
    """Check and re-encode `data` (see encode) and write it under a new random name; nothing
    is written when the picture is refused."""
    return save(encode(data), upload_dir)


def save(encoded: Encoded, upload_dir: Path) -> Stored:
    """Write an encoded picture to the upload directory under a new random name."""
    name = f"{secrets.token_urlsafe(24)}.{encoded.extension}"
    put(upload_dir, name, encoded.data)
    return Stored(stored_name=name, content_type=encoded.content_type, width=encoded.width,
                  height=encoded.height, byte_size=len(encoded.data), sha256=encoded.sha256)


def put(upload_dir: Path, stored_name: str, data: bytes) -> Path:
    """Write `data` as `stored_name` in the upload directory (a new upload, or a picture
    coming back from a backup), replacing a file of that name; returns its path."""
    target = path_of(upload_dir, stored_name)
    if target is None:
        raise ValueError(f"not a stored picture name: {stored_name!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{stored_name}.part")
    # Write then rename, so a reader never sees half a file; "x" never shares a partial file
    # with another writer.
    try:
        with open(partial, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def path_of(upload_dir: Path, stored_name: str) -> Path | None:
    """Where a stored picture lives, or None for a name this module could not have made."""
    if not NAME_RE.fullmatch(stored_name or ""):
        return None
    return Path(upload_dir) / stored_name


def discard(upload_dir: Path, stored_name: str) -> None:
    """Remove a stored file (after the database refused its row); a missing file is fine."""
    path = path_of(upload_dir, stored_name)
    if path is not None:
        path.unlink(missing_ok=True)
