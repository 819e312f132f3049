#!/usr/bin/env python3
"""Prints the unrolled micro-tile bodies used in kernels/DenseLayer.cs.

ILGPU kernels cannot hold a register tile in an array without spilling it to local
memory, so the TM x TN accumulators are written out as scalars. Run this script and
paste its output when the micro-tile shape changes.
"""
import sys

def cpu(tm, tn):
    out = []
    out.append("            // accumulators c{row}{col}")
    for i in range(tm):
        out.append("            float " + ", ".join(f"c{i}{j} = 0f" for j in range(tn)) + ";")
    out.append("            int aOffset = 0, bOffset = 0;")
    out.append("            for (int k = 0; k < shape.K; k++)")
    out.append("            {")
    for i in range(tm):
        out.append(f"                float a{i} = a[rowA{i} + aOffset];")
    for j in range(tn):
        out.append(f"                float b{j} = b[bOffset + colB{j}];")
    for i in range(tm):
        out.append("                " + " ".join(f"c{i}{j} += a{i} * b{j};" for j in range(tn)))
    out.append("                aOffset += shape.AStrideK;")
    out.append("                bOffset += shape.BStrideK;")
    out.append("            }")
    for i in range(tm):
        for j in range(tn):
            out.append(f"            StoreOutput(shape, epilogue, c, bias, aux, m0 + {i}, n0 + {j}, c{i}{j});")
    return "\n".join(out)

def gpu(tm, tn):
    out = []
    for i in range(tm):
        out.append("            float " + ", ".join(f"c{i}{j} = 0f" for j in range(tn)) + ";")
    return "\n".join(out)

if __name__ == "__main__":
    print(cpu(4, 8))
