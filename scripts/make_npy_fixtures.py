#!/usr/bin/env python3
"""Writes the small NumPy .npy reference files that tests/test_npy.cpp reads (tests/data/npy/).

Run once with a Python that has NumPy (e.g. /usr/bin/python3 scripts/make_npy_fixtures.py) and commit the output;
the C++ tests need no Python. Values are simple formulas so the tests can check them without a second file.
"""
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "npy")


def save(name, array):
    np.save(os.path.join(OUT, name), array, allow_pickle=False)


def write_version(name, array, version):
    with open(os.path.join(OUT, name), "wb") as f:
        np.lib.format.write_array(f, array, version=version, allow_pickle=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    # Plain v1 float32, C order: 0..5 as 2x3.
    save("f4_2x3.npy", np.arange(6, dtype="<f4").reshape(2, 3))
    # float64 2x3 stored in Fortran order: element (i, j) = 10*i + j.
    f8 = np.asfortranarray(np.array([[0, 1, 2], [10, 11, 12]], dtype="<f8"))
    assert f8.flags.f_contiguous and not f8.flags.c_contiguous
    save("f8_fortran_2x3.npy", f8)
    # 3-d Fortran order, int16, element (i, j, k) = 100*i + 10*j + k.
    i, j, k = np.indices((2, 3, 4))
    save("i2_fortran_2x3x4.npy", np.asfortranarray((100 * i + 10 * j + k).astype("<i2")))
    # Big-endian int32: [1, -2, 70000, 2**31 - 1].
    save("i4_big_endian.npy", np.array([1, -2, 70000, 2**31 - 1], dtype=">i4"))
    # Big-endian float64 scalar-ish vector.
    save("f8_big_endian.npy", np.array([1.5, -0.25], dtype=">f8"))
    # Header versions 2.0 and 3.0 (NumPy only picks them itself for huge or non-latin1 headers).
    write_version("v2_i8.npy", np.array([[1, 2], [3, -4]], dtype="<i8"), (2, 0))
    write_version("v3_u2.npy", np.array([7, 65535, 0], dtype="<u2"), (3, 0))
    save("bool.npy", np.array([True, False, True, True, False]))
    save("u1.npy", np.array([0, 1, 127, 128, 255], dtype=np.uint8))
    save("i8_scalar.npy", np.array(-1234567890123, dtype="<i8"))
    save("f2.npy", np.array([1.0, -2.0, 0.5], dtype="<f2"))
    # Unicode with non-ASCII (2-, 3- and 4-byte UTF-8) and an empty string; width 4.
    save("unicode.npy", np.array([["café", "日本"], ["", "a😀"]]))
    # Big-endian Unicode.
    save("unicode_big_endian.npy", np.array(["ab", "é"], dtype=">U2"))
    # Empty array (zero elements) to check the 0-size path.
    save("f4_empty_0x3.npy", np.zeros((0, 3), dtype="<f4"))
    # Object array: must be rejected (needs pickle).
    np.save(os.path.join(OUT, "object.npy"), np.array([1, "a", None], dtype=object), allow_pickle=True)
    print("wrote fixtures to", os.path.normpath(OUT), "with numpy", np.__version__, file=sys.stderr)


if __name__ == "__main__":
    main()
