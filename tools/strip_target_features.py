#!/usr/bin/env python3
"""Removes the `target_features` custom section from a .wasm file.

Rust's precompiled standard library records features such as reference-types in that section even
when our code is built with `-C target-cpu=mvp`. wasm-bindgen then emits externref glue, which
binaryen's wasm2js cannot convert ("multiple tables"). Without the section, wasm-bindgen emits
plain glue that works for both the .wasm and its wasm2js twin.

Usage: strip_target_features.py IN.wasm OUT.wasm
"""
import sys


def read_leb(data, pos):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def main(source, target):
    data = open(source, "rb").read()
    if data[:8] != b"\0asm\x01\0\0\0":
        raise SystemExit(f"{source} is not a WebAssembly module")
    out, pos, removed = bytearray(data[:8]), 8, 0
    while pos < len(data):
        start = pos
        section_id = data[pos]
        size, body = read_leb(data, pos + 1)
        end = body + size
        if section_id == 0:
            name_len, name_start = read_leb(data, body)
            name = data[name_start:name_start + name_len]
            if name == b"target_features":
                removed += 1
                pos = end
                continue
        out += data[start:end]
        pos = end
    open(target, "wb").write(out)
    print(f"strip_target_features: removed {removed} section(s)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
