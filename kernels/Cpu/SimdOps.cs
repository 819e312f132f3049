// The vector operations the CPU kernels are written in, once, generically: each kernel body is a
// generic method over TOps : ISimdOps<TV>, and RyuJIT compiles one specialised copy per
// (TOps, TV) pair (struct type arguments are never shared), so every call below inlines to the
// instruction it names. Three implementations: Vector512<float>, Vector256<float> and float.
//
// Every operation is IEEE lane-wise (add, multiply, divide, sqrt and compare round exactly like
// their scalar forms), except MultiplyAdd (fused on the vector paths, two roundings on the scalar
// path), Exp (.NET's vectorised exp on the vector paths, MathF.Exp on the scalar path) and the
// horizontal sums (a fixed pairwise order per width). Results therefore depend on the path but
// never on scheduling.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace GpuMlp.Kernels.Cpu;

/// <summary>The vector operations at one width (Vector512Ops, Vector256Ops, ScalarOps). Public because
/// IOptimizerUpdate.ApplySimd, which every optimiser implements, is generic over it.</summary>
public interface ISimdOps<TV>
    where TV : struct
{
    /// <summary>Floats per vector.</summary>
    static abstract int Lanes { get; }

    /// <summary>Vectors per row of the GEMM register tile (6 rows): as many accumulators as the
    /// register file holds with room for the B loads (32 zmm: 6x4; 16 ymm or xmm: 6x2).</summary>
    static abstract int TileVectors { get; }

    static abstract TV Zero { get; }
    static abstract TV Load(ref float source);
    static abstract void Store(TV value, ref float destination);
    static abstract TV Broadcast(float value);

    /// <summary>a * b + c: fused (one rounding) on the vector paths, two roundings when scalar.</summary>
    static abstract TV MultiplyAdd(TV a, TV b, TV c);
    static abstract TV Add(TV a, TV b);
    static abstract TV Subtract(TV a, TV b);
    static abstract TV Multiply(TV a, TV b);
    static abstract TV Divide(TV a, TV b);
    static abstract TV Sqrt(TV value);
    static abstract TV Exp(TV value);

    /// <summary>Lane-wise a &gt; b ? a : b (NaN-free inputs).</summary>
    static abstract TV Max(TV a, TV b);

    /// <summary>Lane-wise condition &gt; 0 ? value : 0 (ReLU when condition is value; NaN and
    /// -0 give +0, as the scalar kernels do).</summary>
    static abstract TV WherePositive(TV condition, TV value);

    /// <summary>Lane-wise value + 1 where lane == index, else value; index may be outside the vector.</summary>
    static abstract TV AddAtLane(TV value, int index, float addend);

    /// <summary>Inverted dropout of `Lanes` consecutive elements firstElement, firstElement + 1, ...:
    /// a lane is kept (and scaled) when CounterHash.Mix(element ^ key) &gt;= dropThreshold, where
    /// key = CounterHash.Key(seed, step, layer); the mask of DropoutKernels.Keep. The vector
    /// implementations repeat CounterHash.Mix's steps lane-wise.</summary>
    static abstract TV Dropout(TV value, uint key, uint firstElement, uint dropThreshold, float keepScale);

    /// <summary>The sum of the lanes, in a fixed order.</summary>
    static abstract float Sum(TV value);

    /// <summary>The largest lane.</summary>
    static abstract float MaxLane(TV value);

    /// <summary>Lanes bytes, each converted to the float nearest byte / 255.</summary>
    static abstract TV BytesOver255(ref byte source);

    /// <summary>accumulators[i] += (double)value[i] for every lane (Lanes doubles at accumulators).</summary>
    static abstract void AccumulateDouble(TV value, ref double accumulators);
}

/// <summary>Helpers shared by every width.</summary>
internal static class Simd
{
    /// <summary>A view's first element as a managed reference. Valid only on the CPU accelerator,
    /// inside [External] helpers (the memory is the accelerator's host buffer).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref T Ref<T>(ILGPU.ArrayView<T> view)
        where T : unmanaged => ref Unsafe.As<byte, T>(ref ILGPU.Runtime.ArrayViewExtensions.LoadEffectiveAddress(view));

    /// <summary>Loads `count` (1 .. Lanes) floats; the other lanes are `fill`. Never reads past
    /// source + count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV LoadPartial<TOps, TV>(ref float source, int count, float fill)
        where TOps : struct, ISimdOps<TV>
        where TV : struct =>
        count >= TOps.Lanes ? TOps.Load(ref source) : LoadFew<TOps, TV>(ref source, count, fill);

    /// <summary>Stores the first `count` (1 .. Lanes) lanes; never writes past destination + count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StorePartial<TOps, TV>(TV value, ref float destination, int count)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        if (count >= TOps.Lanes)
            TOps.Store(value, ref destination);
        else
            StoreFew<TOps, TV>(value, ref destination, count);
    }

    // The edge cases: the vector widths assemble a partial vector from whole 256-, 128-bit and single
    // loads (and store it the same way), which never touch memory past `count` and cost a few
    // instructions where a stack buffer and span copies cost ~20x more (a 24-wide GEMM tile's
    // second vector is partial on every row). The values moved are the same either way.
    private static TV LoadFew<TOps, TV>(ref float source, int count, float fill)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        if (typeof(TV) == typeof(Vector512<float>))
            return Unsafe.BitCast<Vector512<float>, TV>(PartialVector.Load512(ref source, count, fill));
        if (typeof(TV) == typeof(Vector256<float>))
            return Unsafe.BitCast<Vector256<float>, TV>(PartialVector.Load256(ref source, count, fill));
        if (typeof(TV) == typeof(Vector128<float>))
            return Unsafe.BitCast<Vector128<float>, TV>(PartialVector.Load128(ref source, count, fill));
        Span<float> lanes = stackalloc float[TOps.Lanes];
        lanes.Fill(fill);
        MemoryMarshal.CreateReadOnlySpan(ref source, count).CopyTo(lanes);
        return TOps.Load(ref MemoryMarshal.GetReference(lanes));
    }

    private static void StoreFew<TOps, TV>(TV value, ref float destination, int count)
        where TOps : struct, ISimdOps<TV>
        where TV : struct
    {
        if (typeof(TV) == typeof(Vector512<float>))
        {
            PartialVector.Store512(Unsafe.BitCast<TV, Vector512<float>>(value), ref destination, count);
            return;
        }
        if (typeof(TV) == typeof(Vector256<float>))
        {
            PartialVector.Store256(Unsafe.BitCast<TV, Vector256<float>>(value), ref destination, count);
            return;
        }
        if (typeof(TV) == typeof(Vector128<float>))
        {
            PartialVector.Store128(Unsafe.BitCast<TV, Vector128<float>>(value), ref destination, count);
            return;
        }
        Span<float> lanes = stackalloc float[TOps.Lanes];
        TOps.Store(value, ref MemoryMarshal.GetReference(lanes));
        lanes[..count].CopyTo(MemoryMarshal.CreateSpan(ref destination, count));
    }

    /// <summary>The first index of the contiguous range [start, end) worker `worker` of `workers`
    /// owns when `items` items are split into contiguous, nearly equal ranges.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int RangeStart(int items, int worker, int workers) => (int)((long)items * worker / workers);
}

/// <summary>The first `count` lanes of a vector loaded or stored through whole narrower vectors and
/// single floats: never a read or write past `count` floats; loaded lanes at or past `count` are
/// `fill`. count is 0 .. the vector's lanes.</summary>
internal static class PartialVector
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load128(ref float source, int count, float fill)
    {
        if (count >= 4)
            return Vector128.LoadUnsafe(ref source);
        if (count == 0)
            return Vector128.Create(fill);
        return Vector128.Create(source, count > 1 ? Unsafe.Add(ref source, 1) : fill, count > 2 ? Unsafe.Add(ref source, 2) : fill, fill);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(ref float source, int count, float fill)
    {
        if (count >= 8)
            return Vector256.LoadUnsafe(ref source);
        return count >= 4
            ? Vector256.Create(Vector128.LoadUnsafe(ref source), Load128(ref Unsafe.Add(ref source, 4), count - 4, fill))
            : Vector256.Create(Load128(ref source, count, fill), Vector128.Create(fill));
    }

    public static Vector512<float> Load512(ref float source, int count, float fill)
    {
        if (count >= 16)
            return Vector512.LoadUnsafe(ref source);
        return count >= 8
            ? Vector512.Create(Vector256.LoadUnsafe(ref source), Load256(ref Unsafe.Add(ref source, 8), count - 8, fill))
            : Vector512.Create(Load256(ref source, count, fill), Vector256.Create(fill));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store128(Vector128<float> value, ref float destination, int count)
    {
        if (count >= 4)
        {
            value.StoreUnsafe(ref destination);
            return;
        }
        if (count > 0)
            destination = value.GetElement(0);
        if (count > 1)
            Unsafe.Add(ref destination, 1) = value.GetElement(1);
        if (count > 2)
            Unsafe.Add(ref destination, 2) = value.GetElement(2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store256(Vector256<float> value, ref float destination, int count)
    {
        if (count >= 8)
        {
            value.StoreUnsafe(ref destination);
        }
        else if (count >= 4)
        {
            value.GetLower().StoreUnsafe(ref destination);
            Store128(value.GetUpper(), ref Unsafe.Add(ref destination, 4), count - 4);
        }
        else
        {
            Store128(value.GetLower(), ref destination, count);
        }
    }

    public static void Store512(Vector512<float> value, ref float destination, int count)
    {
        if (count >= 16)
        {
            value.StoreUnsafe(ref destination);
        }
        else if (count >= 8)
        {
            value.GetLower().StoreUnsafe(ref destination);
            Store256(value.GetUpper(), ref Unsafe.Add(ref destination, 8), count - 8);
        }
        else
        {
            Store256(value.GetLower(), ref destination, count);
        }
    }
}

internal readonly struct Vector512Ops : ISimdOps<Vector512<float>>
{
    public static int Lanes => 16;
    public static int TileVectors => 4;
    public static Vector512<float> Zero => Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ref float source) => Vector512.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, ref float destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Broadcast(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) =>
        Vector512.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sqrt(Vector512<float> value) => Vector512.Sqrt(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> value) => Vector512.Exp(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(a, b), a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> WherePositive(Vector512<float> condition, Vector512<float> value) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(condition, Vector512<float>.Zero), value, Vector512<float>.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> AddAtLane(Vector512<float> value, int index, float addend) =>
        Vector512.ConditionalSelect(
            Vector512.Equals(Vector512<int>.Indices, Vector512.Create(index)).AsSingle(),
            value + Vector512.Create(addend),
            value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Dropout(Vector512<float> value, uint key, uint firstElement, uint dropThreshold, float keepScale)
    {
        var x = (Vector512.Create(firstElement) + Vector512<uint>.Indices) ^ Vector512.Create(key);
        x ^= Vector512.ShiftRightLogical(x, 16);
        x *= Vector512.Create(0x7feb352dU);
        x ^= Vector512.ShiftRightLogical(x, 15);
        x *= Vector512.Create(0x846ca68bU);
        x ^= Vector512.ShiftRightLogical(x, 16);
        var keep = Vector512.GreaterThanOrEqual(x, Vector512.Create(dropThreshold)).AsSingle();
        return Vector512.ConditionalSelect(keep, value * Vector512.Create(keepScale), Vector512<float>.Zero);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> value) =>
        Vector256Ops.Sum(value.GetLower() + value.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxLane(Vector512<float> value) =>
        Vector256Ops.MaxLane(Vector256Ops.Max(value.GetLower(), value.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> BytesOver255(ref byte source)
    {
        Vector512<int> widened = Avx512F.IsSupported
            ? Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref source))
            : Vector512.Create(Vector256Ops.Widen(ref source), Vector256Ops.Widen(ref Unsafe.Add(ref source, 8)));
        return Vector512.ConvertToSingle(widened) / Vector512.Create(255f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AccumulateDouble(Vector512<float> value, ref double accumulators)
    {
        (Vector512.LoadUnsafe(ref accumulators) + Vector512.WidenLower(value)).StoreUnsafe(ref accumulators);
        (Vector512.LoadUnsafe(ref accumulators, 8) + Vector512.WidenUpper(value)).StoreUnsafe(ref accumulators, 8);
    }
}

internal readonly struct Vector256Ops : ISimdOps<Vector256<float>>
{
    public static int Lanes => 8;
    public static int TileVectors => 2;
    public static Vector256<float> Zero => Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(ref float source) => Vector256.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, ref float destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Broadcast(float value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Vector256.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sqrt(Vector256<float> value) => Vector256.Sqrt(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> value) => Vector256.Exp(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(a, b), a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> WherePositive(Vector256<float> condition, Vector256<float> value) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(condition, Vector256<float>.Zero), value, Vector256<float>.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AddAtLane(Vector256<float> value, int index, float addend) =>
        Vector256.ConditionalSelect(
            Vector256.Equals(Vector256<int>.Indices, Vector256.Create(index)).AsSingle(),
            value + Vector256.Create(addend),
            value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Dropout(Vector256<float> value, uint key, uint firstElement, uint dropThreshold, float keepScale)
    {
        var x = (Vector256.Create(firstElement) + Vector256<uint>.Indices) ^ Vector256.Create(key);
        x ^= Vector256.ShiftRightLogical(x, 16);
        x *= Vector256.Create(0x7feb352dU);
        x ^= Vector256.ShiftRightLogical(x, 15);
        x *= Vector256.Create(0x846ca68bU);
        x ^= Vector256.ShiftRightLogical(x, 16);
        var keep = Vector256.GreaterThanOrEqual(x, Vector256.Create(dropThreshold)).AsSingle();
        return Vector256.ConditionalSelect(keep, value * Vector256.Create(keepScale), Vector256<float>.Zero);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> value)
    {
        var quad = value.GetLower() + value.GetUpper();
        var pair = quad + Vector128.Shuffle(quad, Vector128.Create(2, 3, 0, 1));
        return pair.ToScalar() + pair.GetElement(1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxLane(Vector256<float> value)
    {
        var quad = Vector128.ConditionalSelect(Vector128.GreaterThan(value.GetLower(), value.GetUpper()), value.GetLower(), value.GetUpper());
        float a = Math.Max(quad.GetElement(0), quad.GetElement(1));
        float b = Math.Max(quad.GetElement(2), quad.GetElement(3));
        return Math.Max(a, b);
    }

    /// <summary>8 bytes zero-extended to 8 int32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> Widen(ref byte source)
    {
        if (Avx2.IsSupported)
            return Avx2.ConvertToVector256Int32(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>(ref source)).AsByte());
        var shorts = Vector128.WidenLower(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>(ref source)).AsByte());
        return Vector256.Create(Vector128.WidenLower(shorts), Vector128.WidenUpper(shorts)).AsInt32();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> BytesOver255(ref byte source) =>
        Vector256.ConvertToSingle(Widen(ref source)) / Vector256.Create(255f);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AccumulateDouble(Vector256<float> value, ref double accumulators)
    {
        (Vector256.LoadUnsafe(ref accumulators) + Vector256.WidenLower(value)).StoreUnsafe(ref accumulators);
        (Vector256.LoadUnsafe(ref accumulators, 4) + Vector256.WidenUpper(value)).StoreUnsafe(ref accumulators, 4);
    }
}

internal readonly struct ScalarOps : ISimdOps<float>
{
    public static int Lanes => 1;
    public static int TileVectors => 2;
    public static float Zero => 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(ref float source) => source;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float value, ref float destination) => destination = value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Broadcast(float value) => value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MultiplyAdd(float a, float b, float c) => (a * b) + c;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Add(float a, float b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Subtract(float a, float b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Multiply(float a, float b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Divide(float a, float b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sqrt(float value) => MathF.Sqrt(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Exp(float value) => MathF.Exp(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Max(float a, float b) => a > b ? a : b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float WherePositive(float condition, float value) => condition > 0f ? value : 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float AddAtLane(float value, int index, float addend) => index == 0 ? value + addend : value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dropout(float value, uint key, uint firstElement, uint dropThreshold, float keepScale) =>
        CounterHash.Mix(firstElement ^ key) >= dropThreshold ? value * keepScale : 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(float value) => value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxLane(float value) => value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BytesOver255(ref byte source) => source / 255f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AccumulateDouble(float value, ref double accumulators) => accumulators += value;
}
