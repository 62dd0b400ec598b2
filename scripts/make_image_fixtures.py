#!/usr/bin/env python3
"""Writes the small image fixtures that tests/test_image.cpp reads (tests/data/images/).

Run once with Debian's Python and PIL (/usr/bin/python3 scripts/make_image_fixtures.py; python3-pil, python3-numpy)
and commit the output; the C++ tests need no Python. Writes:
  - source images: PNG (RGB, grey, palette, RGBA, 16-bit grey), BMP, GIF and JPEG (4:2:0, 4:2:2, 4:4:4,
    progressive, grey, odd sizes, an EXIF orientation tag, a chroma sampling TurboJPEG's header call cannot name
    (written by a few lines of C against libjpeg), extraneous bytes before a marker), and files that must fail:
    a CMYK JPEG, a truncated JPEG, a JPEG whose scan is cut short before EOI, a non-image;
  - expected decodes: PIL's Image.open(p).convert('RGB') of each source, saved as lossless RGB PNG
    (listed in decode_cases.txt as "source expected");
  - expected resizes: PIL's Image.resize((W, H), Image.BILINEAR) of decoded sources, saved as RGB PNG
    (listed in resize_cases.txt as "source expected W H").
The JPEG decodes are only bit-exact references when PIL links the same libjpeg-turbo as the C++ build (Debian 12:
libjpeg62-turbo 2.1.5 for PIL, libturbojpeg0 2.1.5 for spml); the script prints both versions it can see.
"""
import os
import shutil
import subprocess
import tempfile

import numpy as np
from PIL import Image, features

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "images")
BILINEAR = Image.Resampling.BILINEAR if hasattr(Image, "Resampling") else Image.BILINEAR


def path(name):
    return os.path.join(OUT, name)


def synthetic_rgb(width, height, seed, noise):
    """Smooth gradients and a few hard edges plus uniform noise of amplitude `noise`: photo-ish, yet small."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 255 * (0.5 + 0.5 * np.sin(x / width * 5.0 + y / height * 2.0))
    g = 255 * (x + y) / (width + height)
    b = np.where((x - width / 3) ** 2 + (y - height / 2) ** 2 < (height / 3) ** 2, 230.0, 30.0)
    b = b + 40 * np.cos(y / 3.0)
    img = np.stack([r, g, b], axis=-1) + rng.uniform(-noise, noise, size=(height, width, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# A JPEG whose chroma sampling TurboJPEG 2.x's header call cannot name (Y 1x2, Cb 1x1, Cr 1x2): PIL cannot write one,
# so a few lines of C against libjpeg (libjpeg62-turbo-dev) do. Returns False when no C compiler or libjpeg is found.
ODD_SAMPLING_C = r"""
#include <stdio.h>
#include <jpeglib.h>
int main(int argc, char** argv) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  FILE* f = fopen(argv[1], "wb");
  if (!f) return 1;
  jpeg_stdio_dest(&c, f);
  c.image_width = 37;
  c.image_height = 29;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 90, TRUE);
  c.comp_info[0].h_samp_factor = 1; c.comp_info[0].v_samp_factor = 2;
  c.comp_info[1].h_samp_factor = 1; c.comp_info[1].v_samp_factor = 1;
  c.comp_info[2].h_samp_factor = 1; c.comp_info[2].v_samp_factor = 2;
  jpeg_start_compress(&c, TRUE);
  unsigned char row[37 * 3];
  for (int y = 0; y < 29; y++) {
    for (int x = 0; x < 37; x++) {
      row[3 * x] = (unsigned char)(x * 7 + y * 3);
      row[3 * x + 1] = (unsigned char)((x * y * 5) ^ 0x55);
      row[3 * x + 2] = (unsigned char)(255 - y * 8);
    }
    JSAMPROW r = row;
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  fclose(f);
  return 0;
}
"""


def write_odd_sampling_jpeg(dest):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "odd.c"), os.path.join(tmp, "odd")
        with open(src, "w") as f:
            f.write(ODD_SAMPLING_C)
        if subprocess.run([cc, src, "-o", exe, "-ljpeg"], check=False).returncode != 0:
            return False
        return subprocess.run([exe, dest], check=False).returncode == 0


def save_expected_decode(source, cases):
    expected = os.path.splitext(source)[0] + ".pil_rgb.png"
    Image.open(path(source)).convert("RGB").save(path(expected))
    cases.append(f"{source} {expected}")


def save_expected_resize(source, width, height, cases):
    expected = f"{os.path.splitext(source)[0]}.bilinear_{width}x{height}.png"
    img = Image.open(path(source)).convert("RGB")
    img.resize((width, height), BILINEAR).save(path(expected))
    cases.append(f"{source} {expected} {width} {height}")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    decode_cases, resize_cases = [], []

    # --- PNG / BMP / GIF (stb_image in the C++ code) ---
    rgb = synthetic_rgb(37, 29, seed=1, noise=60)  # noisy on purpose: every resize tap matters
    Image.fromarray(rgb, "RGB").save(path("rgb_37x29.png"))

    grey = ((np.arange(19 * 13).reshape(13, 19) * 7) % 256).astype(np.uint8)
    Image.fromarray(grey, "L").save(path("grey_19x13.png"))
    save_expected_decode("grey_19x13.png", decode_cases)

    # Palette with a transparent entry (tRNS): convert('RGB') keeps the palette colour, drops transparency.
    pal = Image.fromarray((np.arange(21 * 17).reshape(17, 21) % 5).astype(np.uint8), "P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 200, 100, 50])
    pal.info["transparency"] = 3
    pal.save(path("palette_21x17.png"), transparency=3)
    save_expected_decode("palette_21x17.png", decode_cases)

    # RGBA with varying alpha (including 0): convert('RGB') drops alpha, no premultiplication.
    rgba = np.concatenate([synthetic_rgb(23, 11, seed=2, noise=20),
                           ((np.arange(23 * 11).reshape(11, 23, 1) * 11) % 256).astype(np.uint8)], axis=-1)
    Image.fromarray(rgba, "RGBA").save(path("rgba_23x11.png"))
    save_expected_decode("rgba_23x11.png", decode_cases)

    # 16-bit grey: PIL opens it as mode I and convert('RGB') clips to 0..255 (not the high byte).
    g16 = (np.arange(15 * 9, dtype=np.uint32).reshape(9, 15) * 2 + np.arange(9).reshape(9, 1) * 190).astype(np.uint16)
    Image.fromarray(g16, "I;16").save(path("grey16_15x9.png"))
    save_expected_decode("grey16_15x9.png", decode_cases)

    Image.fromarray(synthetic_rgb(12, 10, seed=3, noise=30), "RGB").save(path("rgb_12x10.bmp"))
    save_expected_decode("rgb_12x10.bmp", decode_cases)

    gif = Image.fromarray(synthetic_rgb(14, 9, seed=4, noise=10), "RGB").quantize(colors=16, dither=0)
    gif.save(path("palette_14x9.gif"))
    save_expected_decode("palette_14x9.gif", decode_cases)

    # --- JPEG (TurboJPEG in the C++ code) ---
    photo = synthetic_rgb(64, 48, seed=5, noise=8)
    Image.fromarray(photo, "RGB").save(path("photo_64x48_q90.jpg"), quality=90)  # 4:2:0 by default
    save_expected_decode("photo_64x48_q90.jpg", decode_cases)
    odd = synthetic_rgb(37, 29, seed=6, noise=25)
    Image.fromarray(odd, "RGB").save(path("odd_37x29_q85.jpg"), quality=85, subsampling=2)  # 4:2:0, odd edges
    save_expected_decode("odd_37x29_q85.jpg", decode_cases)
    Image.fromarray(odd, "RGB").save(path("odd_37x29_422.jpg"), quality=80, subsampling=1)
    save_expected_decode("odd_37x29_422.jpg", decode_cases)
    Image.fromarray(odd, "RGB").save(path("odd_37x29_444.jpg"), quality=95, subsampling=0)
    save_expected_decode("odd_37x29_444.jpg", decode_cases)
    Image.fromarray(odd, "RGB").save(path("odd_37x29_progressive.jpg"), quality=75, progressive=True)
    save_expected_decode("odd_37x29_progressive.jpg", decode_cases)
    Image.fromarray(synthetic_rgb(33, 21, seed=7, noise=15)[..., 1], "L").save(path("grey_33x21.jpg"), quality=90)
    save_expected_decode("grey_33x21.jpg", decode_cases)
    # EXIF orientation 6 ("rotate 90 CW to display"): PIL's convert('RGB') does not apply it, nor does spml.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(synthetic_rgb(40, 20, seed=8, noise=5), "RGB").save(
        path("exif_rot6_40x20.jpg"), quality=90, exif=exif.tobytes())
    save_expected_decode("exif_rot6_40x20.jpg", decode_cases)
    if write_odd_sampling_jpeg(path("odd_sampling_37x29.jpg")):
        save_expected_decode("odd_sampling_37x29.jpg", decode_cases)
    else:
        print("make_image_fixtures: warning: no C compiler or libjpeg; odd_sampling_37x29.jpg not written")
    # A photo-sized JPEG for the usual 224x224 training resize (its decode is checked through the resize).
    Image.fromarray(synthetic_rgb(320, 240, seed=9, noise=3), "RGB").save(path("scene_320x240_q90.jpg"), quality=90)
    # A JPEG under a .png name: the format comes from the magic bytes.
    with open(path("photo_64x48_q90.jpg"), "rb") as f:
        jpeg_bytes = f.read()
    with open(path("jpeg_named.png"), "wb") as f:
        f.write(jpeg_bytes)
    decode_cases.append("jpeg_named.png photo_64x48_q90.pil_rgb.png")

    # --- files that must fail ---
    Image.fromarray(np.stack([photo[..., 0]] * 4, axis=-1), "CMYK").resize((16, 16)).save(
        path("cmyk_16x16.jpg"), quality=90)
    with open(path("truncated.jpg"), "wb") as f:
        f.write(jpeg_bytes[: len(jpeg_bytes) // 2])
    with open(path("not_an_image.png"), "wb") as f:
        f.write(b"this is a text file, not a PNG\n")
    # Extraneous bytes between two header segments: libjpeg warns ("Corrupt JPEG data: 3 extraneous bytes before
    # marker 0xdb"), the image is complete, PIL and spml decode it.
    app0_end = 2 + 2 + (jpeg_bytes[4] << 8 | jpeg_bytes[5])
    with open(path("extraneous_bytes.jpg"), "wb") as f:
        f.write(jpeg_bytes[:app0_end] + b"\x00\x11\x22" + jpeg_bytes[app0_end:])
    save_expected_decode("extraneous_bytes.jpg", decode_cases)
    with open(path("extraneous_before_eoi.jpg"), "wb") as f:  # the same warning after the scan, before EOI
        f.write(jpeg_bytes[:-2] + b"\x00\x11\x22\x33" + jpeg_bytes[-2:])
    save_expected_decode("extraneous_before_eoi.jpg", decode_cases)
    # Scan data cut short but the file ends with EOI: libjpeg warns "premature end of data segment" and pads with
    # gray; PIL loads it, spml refuses it (missing image data).
    with open(path("cut_scan.jpg"), "wb") as f:
        f.write(jpeg_bytes[: len(jpeg_bytes) * 2 // 3] + b"\xff\xd9")
    Image.open(path("cut_scan.jpg")).convert("RGB")
    # PIL refuses the truncated JPEG as well (its "image file is truncated").
    try:
        Image.open(path("truncated.jpg")).convert("RGB")
        raise SystemExit("PIL decoded the truncated JPEG")
    except OSError:
        pass

    # --- resizes (BILINEAR with Pillow's antialiasing support), down, up, mixed, one axis only ---
    for w, h in [(16, 16), (50, 40), (24, 70), (37, 10), (90, 29), (7, 5), (1, 1), (3, 97)]:
        save_expected_resize("rgb_37x29.png", w, h, resize_cases)
    for w, h in [(16, 16), (100, 75), (31, 17), (5, 3), (64, 61)]:
        save_expected_resize("photo_64x48_q90.jpg", w, h, resize_cases)
    save_expected_resize("scene_320x240_q90.jpg", 224, 224, resize_cases)
    for w, h in [(20, 45)]:
        save_expected_resize("odd_37x29_q85.jpg", w, h, resize_cases)

    with open(path("decode_cases.txt"), "w") as f:
        f.write("# source expected(PIL convert('RGB') as RGB PNG); written by scripts/make_image_fixtures.py\n")
        f.write("\n".join(decode_cases) + "\n")
    with open(path("resize_cases.txt"), "w") as f:
        f.write("# source expected(PIL resize BILINEAR as RGB PNG) width height; scripts/make_image_fixtures.py\n")
        f.write("\n".join(resize_cases) + "\n")

    total = sum(os.path.getsize(path(f)) for f in os.listdir(OUT))
    print(f"make_image_fixtures: {len(os.listdir(OUT))} files, {total} bytes in {os.path.normpath(OUT)}")
    print(f"  PIL {Image.__version__}, libjpeg API {features.version('jpg')}, "
          f"libjpeg-turbo {features.version('libjpeg_turbo') if 'libjpeg_turbo' in features.features else '?'}")
    try:
        pkgs = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version}\\n", "libjpeg62-turbo", "libturbojpeg0"],
                              capture_output=True, text=True, check=False).stdout.strip().splitlines()
        for line in pkgs:
            print(f"  {line}")
    except OSError:
        pass


if __name__ == "__main__":
    main()
