"""Reading the QR code the console draws on its <canvas>, independently of its encoder.

The test takes the canvas pixels, finds the modules from the finder pattern's geometry
(not from anything the page says about itself), decodes the image with zxing-cpp, and
rebuilds the module matrix with the Python `qrcode` package from the decoded text, at the
error-correction level and mask that the drawn code's format information declares (the
mask is the encoder's free choice, so it is read rather than recomputed).

segno would be the other obvious reference, but it is not module-exact: when the data
ends on a byte boundary after the terminator it adds one zero byte before the pad
codewords (still decodable, but a different matrix from ISO 18004 7.4.10's).
"""

from __future__ import annotations

from dataclasses import dataclass

import qrcode
import qrcode.util
import zxingcpp
from playwright.sync_api import Page

# one grey level per pixel, row by row, transparent counting as white
READ_CANVAS = """(id) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const grey = new Array(canvas.width * canvas.height);
  for (let i = 0; i < grey.length; i += 1) {
    const [r, g, b, a] = data.slice(i * 4, i * 4 + 4);
    grey[i] = Math.round(255 - (a / 255) * (255 - (r + g + b) / 3));
  }
  return { width: canvas.width, height: canvas.height, grey };
}"""
FORMAT_MASK = 0x5412
LEVELS = {1: "L", 0: "M", 3: "Q", 2: "H"}
CORRECTION = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}


@dataclass(frozen=True)
class DrawnQr:
    text: str
    level: str
    mask: int
    version: int
    modules: list[list[bool]]


def read_canvas(page: Page, element_id: str) -> tuple[int, int, bytes]:
    drawn = page.evaluate(READ_CANVAS, element_id)
    return drawn["width"], drawn["height"], bytes(drawn["grey"])


def modules_of(width: int, height: int, pixels: bytes) -> list[list[bool]]:
    """The module matrix: the top-left finder's 7-module dark run gives origin and scale."""
    assert width == height
    dark = [i for i, value in enumerate(pixels) if value < 128]
    assert dark, "the canvas is blank"
    top, left = divmod(dark[0], width)
    run = 0
    while left + run < width and pixels[top * width + left + run] < 128:
        run += 1
    assert run % 7 == 0, run
    scale = run // 7
    assert top == left and left % scale == 0, (top, left, scale)
    count = (width - 2 * left) // scale
    assert count * scale + 2 * left == width and (count - 17) % 4 == 0, (width, left, scale)
    for y in range(width):  # each module is one solid square
        for x in range(width):
            row, col = (y - top) // scale, (x - left) // scale
            inside = 0 <= row < count and 0 <= col < count
            centre = (top + row * scale + scale // 2) * width + left + col * scale + scale // 2
            expected = pixels[centre] if inside else 255
            assert (pixels[y * width + x] < 128) == (expected < 128), (x, y)
    return [
        [
            pixels[(top + r * scale + scale // 2) * width + left + c * scale + scale // 2] < 128
            for c in range(count)
        ]
        for r in range(count)
    ]


def format_of(modules: list[list[bool]]) -> tuple[str, int]:
    """Error-correction level and mask from the format bits beside the top-left finder."""
    places = [(i, 8) for i in range(6)] + [(7, 8), (8, 8), (8, 7)]
    places += [(8, 14 - i) for i in range(9, 15)]
    bits = sum(1 << i for i, (row, col) in enumerate(places) if modules[row][col])
    data = (bits ^ FORMAT_MASK) >> 10
    return LEVELS[data >> 3], data & 7


def read_qr(page: Page, element_id: str = "mfa-qr") -> DrawnQr:
    width, height, pixels = read_canvas(page, element_id)
    modules = modules_of(width, height, pixels)
    image = memoryview(pixels).cast("B", shape=[height, width])
    [found] = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert found.valid, found.error
    level, mask = format_of(modules)
    return DrawnQr(found.text, level, mask, (len(modules) - 17) // 4, modules)


def reference_modules(text: str, level: str, mask: int, version: int) -> list[list[bool]]:
    """The `qrcode` package's matrix for the same text (UTF-8, byte mode), level, version
    and mask."""
    code = qrcode.QRCode(
        version=version, error_correction=CORRECTION[level], mask_pattern=mask, border=0
    )
    code.add_data(qrcode.util.QRData(text.encode("utf-8"), mode=qrcode.util.MODE_8BIT_BYTE))
    code.make(fit=False)
    return [[bool(value) for value in row] for row in code.get_matrix()]
