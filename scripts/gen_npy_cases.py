#!/usr/bin/env python3
"""Writes the `.npy` conformance cases of ember-abx with NumPy.

    python3 scripts/gen_npy_cases.py   # needs numpy; CI does not run this, the output is committed

Every case is a small `.npy` file in `crates/abx/tests/data/npy_cases/` plus one entry in
`expected.json` recording what `np.load` made of it:

* `"numpy": "ok"` with the shape and the values cast to float32 (`bits`: the IEEE-754 bit
  patterns, so NaN, infinities and signed zeros compare exactly), in C order;
* `"numpy": "error"` with NumPy's exception text;
* `"ember": "unsupported"` for files NumPy loads but ember deliberately rejects (complex,
  strings, structured dtypes): ember must return an error that names the dtype.

`crates/abx/tests/npy_cases.rs` reads every case with `ember_abx::npy::read_npy` and compares.
Some files are written by `np.save`, others byte by byte (duplicate keys, odd spellings,
trailing bytes, corrupt headers) because `np.save` never writes them but `np.load` reads them.
"""

import json
import os
import re
import struct
import warnings

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "abx", "tests", "data", "npy_cases")


def raw(major, minor, header, body=b"", pad=True):
    """A .npy file with a hand-written header dict (no validation)."""
    h = header
    pre = 10 if major == 1 else 12
    if pad:
        while (pre + len(h.encode("utf8")) + 1) % 64:
            h += " "
        h += "\n"
    hb = h.encode("latin1" if major < 3 else "utf8")
    out = b"\x93NUMPY" + bytes([major, minor])
    out += struct.pack("<H", len(hb)) if major == 1 else struct.pack("<I", len(hb))
    return out + hb + body


def saved(arr, version=None):
    import io

    buf = io.BytesIO()
    if version is None:
        np.save(buf, arr)
    else:
        np.lib.format.write_array(buf, arr, version=version)
    return buf.getvalue()


F4 = np.array([[1.5, -2.0], [3.25, 0.0], [np.inf, -0.0]], dtype=np.float32)
F8 = np.array([0.1, 1e-3, 1e39, -1e-46, np.nan, 2.0**-149], dtype=np.float64)
F2 = np.array([1.0, -0.5, 65504.0, 6e-8, np.inf, np.nan, -0.0], dtype=np.float16)
I8 = np.array([-(2**63), 2**62 + 2**38 + 1, -1, 0, 16777217], dtype=np.int64)
U8 = np.array([2**64 - 1, 2**63 + 2**39 + 1, 0, 16777217], dtype=np.uint64)
F4_BODY = np.array([1.0, 2.0, 3.0], dtype="<f4").tobytes()


def cases():
    c = {}
    # np.save round trips: every dtype ember converts, both byte orders.
    c["f4_le_2d"] = saved(F4)
    c["f4_be_2d"] = saved(F4.astype(">f4"))
    c["f8_le"] = saved(F8)
    c["f8_be"] = saved(F8.astype(">f8"))
    c["f2_le"] = saved(F2)
    c["f2_be"] = saved(F2.astype(">f2"))
    for t in ["i1", "i2", "i4", "u1", "u2", "u4"]:
        info = np.iinfo(t)
        a = np.array([info.min, info.max, 0, 1, info.max // 3], dtype=t)
        c[f"{t}_le"] = saved(a.astype("<" + t))
        c[f"{t}_be"] = saved(a.astype(">" + t))
    c["i8_le"] = saved(I8)
    c["i8_be"] = saved(I8.astype(">i8"))
    c["u8_le"] = saved(U8)
    c["u8_be"] = saved(U8.astype(">u8"))
    c["bool"] = saved(np.array([True, False, True]))
    c["scalar"] = saved(np.float32(7.5))
    c["empty_0x3"] = saved(np.zeros((0, 3), dtype=np.float32))
    c["three_d"] = saved(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    c["fortran_2d"] = saved(np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
    c["fortran_3d_be"] = saved(
        np.asfortranarray(np.arange(24, dtype=">f8").reshape(2, 3, 4))
    )
    c["fortran_1d"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", F4_BODY)
    c["v2"] = saved(F4, version=(2, 0))
    c["v3"] = saved(F4, version=(3, 0))

    # Hand-written headers NumPy reads.
    c["dup_descr_last_wins"] = raw(
        1, 0, "{'descr': '>f4', 'fortran_order': False, 'shape': (3,), 'descr': '<f4'}", F4_BODY
    )
    c["dup_shape_last_wins"] = raw(
        1, 0, "{'descr': '<f4', 'shape': (1,), 'fortran_order': False, 'shape': (3,)}", F4_BODY
    )
    c["dup_fortran_last_wins"] = raw(
        1,
        0,
        "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 1), 'fortran_order': False}",
        F4_BODY,
    )
    c["trailing_bytes"] = saved(F4) + b"\0trailing\xff"
    c["native_order"] = raw(1, 0, "{'descr': '=f4', 'fortran_order': False, 'shape': (3,)}", F4_BODY)
    c["pipe_order_f4"] = raw(1, 0, "{'descr': '|f4', 'fortran_order': False, 'shape': (3,)}", F4_BODY)
    c["no_order_f4"] = raw(1, 0, "{'descr': 'f4', 'fortran_order': False, 'shape': (3,)}", F4_BODY)
    c["char_code_f"] = raw(1, 0, "{'descr': 'f', 'fortran_order': False, 'shape': (3,)}", F4_BODY)
    c["big_u1"] = raw(1, 0, "{'descr': '>u1', 'fortran_order': False, 'shape': (3,)}", b"\x00\x7f\xff")
    c["bool_byte_2"] = raw(1, 0, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,)}", b"\x00\x02\x01")
    c["question_bool"] = raw(1, 0, "{'descr': '?', 'fortran_order': False, 'shape': (2,)}", b"\x01\x00")
    c["double_quotes_spacing"] = raw(
        1, 0, '{ "shape" : ( 3 , ) ,\n "descr":"<f4","fortran_order"  :False }', F4_BODY
    )
    c["no_padding"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", F4_BODY, pad=False)
    c["long_suffix_py2"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,)}", F4_BODY)
    c["shape_parenthesised_int"] = raw(
        1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': ((3), (1))}", F4_BODY
    )
    c["shape_int_spellings"] = raw(
        1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (0x3, +1, 0b1, 0O1)}", F4_BODY
    )
    c["shape_underscore"] = raw(
        1, 0, "{'descr': '<u1', 'fortran_order': False, 'shape': (1_2,)}", bytes(range(12))
    )
    c["zero_dim_large_other"] = raw(
        1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1152921504606846975)}"
    )
    c["name_float32"] = raw(1, 0, "{'descr': 'float32', 'fortran_order': False, 'shape': (3,)}", F4_BODY)
    c["name_uint16"] = raw(1, 0, "{'descr': 'uint16', 'fortran_order': False, 'shape': (2,)}", b"\x01\x02\xff\xff")
    c["f2_signalling_nan_payload"] = raw(
        1, 0, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,)}", b"\x01\x7d\x01\xfe\x01\x00"
    )
    c["err_order_before_name"] = raw(1, 0, "{'descr': '<float32', 'fortran_order': False, 'shape': (3,)}", F4_BODY)
    c["unsupported_float128"] = raw(1, 0, "{'descr': '>f16', 'fortran_order': False, 'shape': (1,)}", bytes(16))
    c["unsupported_complex"] = saved(np.array([1 + 2j], dtype=np.complex64))
    c["unsupported_unicode"] = saved(np.array(["ab"]))
    c["unsupported_structured"] = saved(np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))

    # Files NumPy rejects.
    c["err_huge_shape_empty_body"] = raw(
        1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,)}"
    )
    c["err_huge_shape_wraps_to_zero"] = raw(
        1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952, 8)}"
    )
    c["err_truncated_body"] = saved(F4)[:-3]
    c["err_missing_key"] = raw(1, 0, "{'descr': '<f4', 'shape': (3,)}", F4_BODY)
    c["err_extra_key"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", F4_BODY)
    c["err_fortran_not_bool"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}", F4_BODY)
    c["err_shape_list"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': [3]}", F4_BODY)
    c["err_shape_int"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': 3}", F4_BODY)
    c["err_negative_dim"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}", F4_BODY)
    c["err_version_1_1"] = raw(1, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", F4_BODY)
    c["err_version_4"] = raw(4, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", F4_BODY)
    c["err_bad_magic"] = b"\x93NUMPX" + saved(F4)[6:]
    c["err_not_a_dict"] = raw(1, 0, "['descr', 'fortran_order', 'shape']", F4_BODY)
    c["err_unclosed_dict"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)", F4_BODY)
    c["err_header_over_10000"] = raw(
        2, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}" + " " * 10000, F4_BODY, pad=False
    )
    c["err_shape_true"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (True, 3)}", F4_BODY)
    c["err_shape_float"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,)}", F4_BODY)
    c["err_shape_nested"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': ((3,),)}", F4_BODY)
    c["err_shape_expression"] = raw(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (1 + 2,)}", F4_BODY)
    c["err_zero_dim_huge_other"] = raw(
        1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904)}"
    )
    c["err_nul_in_comment"] = raw(
        1, 0, "{'descr': '<f4', # \0\n 'fortran_order': False, 'shape': (3,)}", F4_BODY
    )
    c["comment_ends_at_cr"] = raw(
        1, 0, "{'descr': '<f4', # c\r 'fortran_order': False, 'shape': (3,)}", F4_BODY
    )
    c["err_bad_dtype"] = raw(1, 0, "{'descr': '<f3', 'fortran_order': False, 'shape': (3,)}", F4_BODY)
    c["err_header_truncated"] = saved(F4)[:40]
    return c


def expect(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            a = np.load(path, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - every NumPy rejection is a case
            msg = re.sub(r" at 0x[0-9a-f]+", "", f"{type(e).__name__}: {e}")  # reproducible
            return {"numpy": "error", "error": msg[:300]}
    if a.dtype.kind not in "fiub" or a.dtype.itemsize > 8:  # complex, strings, float128, ...
        return {"numpy": "ok", "ember": "unsupported", "dtype": str(a.dtype)}
    with np.errstate(over="ignore", invalid="ignore"):  # 1e39 -> inf, as a C cast
        f = np.ascontiguousarray(a.astype(np.float32))
    return {
        "numpy": "ok",
        "shape": list(a.shape),
        "dtype": str(a.dtype),
        "bits": [int(b) for b in f.reshape(-1).view(np.uint32)],
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".npy"):
            os.remove(os.path.join(OUT, f))
    expected = {}
    for name, data in sorted(cases().items()):
        path = os.path.join(OUT, name + ".npy")
        with open(path, "wb") as fh:
            fh.write(data)
        expected[name + ".npy"] = expect(path)
    doc = {"numpy_version": np.__version__, "cases": expected}
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print(f"{len(expected)} cases in {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
