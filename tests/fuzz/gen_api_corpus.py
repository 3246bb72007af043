#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_api (tests/fuzz/corpus/api/): every call family of the target
with small counts, with counts no buffer can hold and with mixed edges, plus issue 20's repro.

Byte layout (tests/fuzz/fuzz_api.c): an operation byte (op % 32 picks the call), then the call's
counts, each a byte whose value below 224 indexes the table of edges (value % 21), then the
bytes the call reads (bank choice, flags, fill seeds)."""
import os
import sys

# indices into fuzz_api.c's table of edges
E = {'0': 0, '1': 1, '2': 2, '3': 3, '4': 4, '7': 5, '16': 6, '50': 7, '64': 8, '2^24': 9, '2^24+1': 10,
     '2^31': 11, '2^32': 12, '2^40': 13, '2^60': 14, '2^61': 15, '2^62': 16, 'SIZE_MAX/2': 17,
     'SIZE_MAX/2+1': 18, 'SIZE_MAX-1': 19, 'SIZE_MAX': 20}
FILL = [1, 0, 1, 2, 1, 0, 3, 1, 1, 2, 0, 1, 1, 1, 0, 2]


def call(op, *counts):
    return bytes([op]) + bytes(E[c] for c in counts) + bytes(FILL)


def main(out):
    os.makedirs(out, exist_ok=True)
    seeds = {}
    for op in range(32):
        seeds['op%02d_small.bin' % op] = call(op, '4', '2', '3', '4', '2', '2', '4', '3')
        seeds['op%02d_huge.bin' % op] = call(op, '2^62', '2^62', '2^62', '2^62', '2^62', '2^62', '2^62', '2^62')
        seeds['op%02d_edges.bin' % op] = call(op, 'SIZE_MAX/2+1', '2^31', 'SIZE_MAX', '1', '0', '2^61', '7', '50')
    # issue 20, item 1: lct_bank_gather of 2^62 rows from the 50 x 4 bank
    seeds['issue20_gather.bin'] = bytes([0, E['2^62'], E['0'], 0]) + bytes(FILL)
    # a longer run: several families in one input
    seeds['mixed.bin'] = (call(0, '16', '0') + call(5, '7', '0') + call(10, '16') + call(11, '16') +
                          call(20, '16') + call(23, '7') + call(17, '4', '4', '4', '4', '4', '4', '4') +
                          call(27, '64') + call(29, '16'))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus', 'api'))
