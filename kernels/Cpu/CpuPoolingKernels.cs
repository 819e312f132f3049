// 2x2 max-pooling on the CPU accelerator: PoolingKernels.cs's two kernels as plain .NET loops in
// [External] helpers, split over the worker threads of one persistent launch.
//
// Shapes and rules are PoolingKernels.cs's (PoolShape): forward OVERWRITES y and argmax [B, C, OutH,
// OutW] (argmax = iy * W + ix inside the plane; the window scanned row-major from -infinity, an
// element replaces the maximum when greater or NaN); backward OVERWRITES dx [B, C, H, W]: each
// element of a window gets dy of the window if it is the window's argmax, else 0, and an odd last
// row or column gets 0. Both are bit-identical to the portable kernels (they compare and move
// values, no arithmetic). The backward tests each window element against argmax, like the portable
// gather, instead of scattering to argmax: an argmax outside its window then writes nothing.
//
// The NHWC variants (PoolingKernels.cs's MaxPool2ForwardNhwcKernel and MaxPool2BackwardNhwcKernel)
// read and write a convolution's [B * H * W, C] rows. The backward also OVERWRITES partials [B, C]
// = per image, the sum over rows ascending of the dx it wrote, from 0: the convolution's bias
// partials (CpuConvolutionKernels's ConvBiasPartials, which adds the same values in the same
// order), so the convolution's backward needs no pass of its own over dz.
//
// Work split: (image, channel) planes, contiguous ranges per worker (Simd.RangeStart); the NHWC
// forward by (image, window row), the NHWC backward by image (its partials sum a whole image).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace GpuMlp.Kernels.Cpu;

public static class CpuPoolingKernels
{
    [CpuOnlyKernel]
    public static void MaxPool2ForwardNhwcCpuKernel(PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax) =>
        CpuPooling.ForwardNhwc(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, x, y, argmax);

    [CpuOnlyKernel]
    public static void MaxPool2BackwardNhwcCpuKernel(PoolShape shape, int reluMask, ArrayView<float> dy, ArrayView<int> argmax,
        ArrayView<float> y, ArrayView<float> dx, ArrayView<float> partials) =>
        CpuPooling.BackwardNhwc(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, reluMask, dy, argmax, y, dx, partials);

    [CpuOnlyKernel]
    public static void MaxPool2ForwardCpuKernel(PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax) =>
        CpuPooling.Forward(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, x, y, argmax);

    [CpuOnlyKernel]
    public static void MaxPool2BackwardCpuKernel(PoolShape shape, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> dx) =>
        CpuPooling.Backward(Grid.GlobalIndex.X, Grid.DimX * Group.DimX, shape, dy, argmax, dx);
}

/// <summary>The [External] bodies of the CpuPoolingKernels kernels (plain .NET, run by RyuJIT).</summary>
internal static class CpuPooling
{
    [ILGPU.Frontend.External("gpumlp_cpu_maxpool2_forward")]
    public static void Forward(int worker, int workers, PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax) =>
        Forward(worker, workers, shape, ref Simd.Ref(x), ref Simd.Ref(y), ref Simd.Ref(argmax));

    [ILGPU.Frontend.External("gpumlp_cpu_maxpool2_backward")]
    public static void Backward(int worker, int workers, PoolShape shape, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> dx) =>
        Backward(worker, workers, shape, ref Simd.Ref(dy), ref Simd.Ref(argmax), ref Simd.Ref(dx));

    [ILGPU.Frontend.External("gpumlp_cpu_maxpool2_forward_nhwc")]
    public static void ForwardNhwc(int worker, int workers, PoolShape shape, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax) =>
        ForwardNhwc(worker, workers, shape, ref Simd.Ref(x), ref Simd.Ref(y), ref Simd.Ref(argmax));

    [ILGPU.Frontend.External("gpumlp_cpu_maxpool2_backward_nhwc")]
    public static void BackwardNhwc(int worker, int workers, PoolShape shape, int reluMask, ArrayView<float> dy,
        ArrayView<int> argmax, ArrayView<float> y, ArrayView<float> dx, ArrayView<float> partials) =>
        BackwardNhwc(worker, workers, shape, reluMask != 0, ref Simd.Ref(dy), ref Simd.Ref(argmax), ref Simd.Ref(y), ref Simd.Ref(dx),
            ref Simd.Ref(partials));

    /// <summary>Each worker thread's window row of the NHWC kernels, [OutW, C], grown on demand: the
    /// chosen plane indices, and the maxima (forward) or the masked gradients (backward).</summary>
    [ThreadStatic]
    private static int[]? windowChoices;

    [ThreadStatic]
    private static float[]? windowValues;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Forward(int worker, int workers, in PoolShape shape, ref float x, ref float y, ref int argmax)
    {
        int width = shape.Width, outH = shape.OutH, outW = shape.OutW;
        int plane = shape.Height * width, outPlane = outH * outW;
        int planes = shape.Batch * shape.Channels;
        int end = Simd.RangeStart(planes, worker + 1, workers);
        for (int index = Simd.RangeStart(planes, worker, workers); index < end; index++)
        {
            ref float input = ref Unsafe.Add(ref x, (nint)index * plane);
            ref float output = ref Unsafe.Add(ref y, (nint)index * outPlane);
            ref int chosen = ref Unsafe.Add(ref argmax, (nint)index * outPlane);
            for (int oy = 0; oy < outH; oy++)
            {
                for (int ox = 0; ox < outW; ox++)
                {
                    int first = 2 * oy * width + 2 * ox;
                    float best = float.NegativeInfinity;
                    int bestIndex = first;
                    Consider(Unsafe.Add(ref input, first), first, ref best, ref bestIndex);
                    Consider(Unsafe.Add(ref input, first + 1), first + 1, ref best, ref bestIndex);
                    Consider(Unsafe.Add(ref input, first + width), first + width, ref best, ref bestIndex);
                    Consider(Unsafe.Add(ref input, first + width + 1), first + width + 1, ref best, ref bestIndex);
                    Unsafe.Add(ref output, oy * outW + ox) = best;
                    Unsafe.Add(ref chosen, oy * outW + ox) = bestIndex;
                }
            }
        }
    }

    /// <summary>PoolingKernels's rule: the element replaces the maximum when greater, or NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Consider(float value, int index, ref float best, ref int bestIndex)
    {
        if (value > best || float.IsNaN(value))
        {
            best = value;
            bestIndex = index;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Backward(int worker, int workers, in PoolShape shape, ref float dy, ref int argmax, ref float dx)
    {
        int width = shape.Width, outH = shape.OutH, outW = shape.OutW;
        int plane = shape.Height * width, outPlane = outH * outW;
        int planes = shape.Batch * shape.Channels;
        int end = Simd.RangeStart(planes, worker + 1, workers);
        for (int index = Simd.RangeStart(planes, worker, workers); index < end; index++)
        {
            ref float gradient = ref Unsafe.Add(ref dy, (nint)index * outPlane);
            ref int chosen = ref Unsafe.Add(ref argmax, (nint)index * outPlane);
            ref float target = ref Unsafe.Add(ref dx, (nint)index * plane);
            // An odd height's last row and an odd width's last column belong to no window.
            if ((width & 1) != 0 || (shape.Height & 1) != 0)
            {
                for (int i = 0; i < plane; i++)
                    Unsafe.Add(ref target, i) = 0f;
            }
            for (int oy = 0; oy < outH; oy++)
            {
                for (int ox = 0; ox < outW; ox++)
                {
                    int first = 2 * oy * width + 2 * ox;
                    int selected = Unsafe.Add(ref chosen, oy * outW + ox);
                    float value = Unsafe.Add(ref gradient, oy * outW + ox);
                    Unsafe.Add(ref target, first) = selected == first ? value : 0f;
                    Unsafe.Add(ref target, first + 1) = selected == first + 1 ? value : 0f;
                    Unsafe.Add(ref target, first + width) = selected == first + width ? value : 0f;
                    Unsafe.Add(ref target, first + width + 1) = selected == first + width + 1 ? value : 0f;
                }
            }
        }
    }

    /// <summary>y and argmax [B, C, OutH, OutW] from x [B * H * W, C]: per (image, window row), each
    /// window's four rows of x are compared across the channels (contiguous; 8 channels a vector,
    /// branch-free: which element wins is data and would mispredict as a branch) into the worker's
    /// [OutW, C] window row, then copied out to the channels' planes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ForwardNhwc(int worker, int workers, in PoolShape shape, ref float x, ref float y, ref int argmax)
    {
        int outH = shape.OutH, imageLength = shape.Height * shape.Width * shape.Channels;
        int units = shape.Batch * outH;
        int end = Simd.RangeStart(units, worker + 1, workers);
        for (int unit = Simd.RangeStart(units, worker, workers); unit < end; unit++)
        {
            int b = unit / outH;
            ForwardNhwcRow(shape, ref Unsafe.Add(ref x, (nint)b * imageLength), b, unit - (b * outH), ref y, ref argmax);
        }
    }

    /// <summary>ForwardNhwc for every window row of image b, whose [H * W, C] rows are at
    /// <paramref name="image"/> (a fused convolution's worker buffer).</summary>
    internal static void ForwardNhwcImage(in PoolShape shape, ref float image, int b, ref float y, ref int argmax)
    {
        for (int oy = 0; oy < shape.OutH; oy++)
            ForwardNhwcRow(shape, ref image, b, oy, ref y, ref argmax);
    }

    /// <summary>Window row oy of image b (its rows at <paramref name="image"/>): y and argmax for it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardNhwcRow(in PoolShape shape, ref float image, int b, int oy, ref float y, ref int argmax)
    {
        int width = shape.Width, channels = shape.Channels, outH = shape.OutH, outW = shape.OutW;
        int outPlane = outH * outW, windowRow = outW * channels;
        int[] choices = WindowChoices(windowRow);
        float[] maxima = WindowValues(windowRow);
        for (int ox = 0; ox < outW; ox++)
        {
            int first = 2 * oy * width + 2 * ox;
            ref float topLeft = ref Unsafe.Add(ref image, (nint)first * channels);
            ref float bottomLeft = ref Unsafe.Add(ref topLeft, (nint)width * channels);
            ref float best = ref maxima[ox * channels];
            ref int chosen = ref choices[ox * channels];
            int c = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                for (; c + 8 <= channels; c += 8)
                {
                    // The first element always wins against -infinity's start (or ties it, keeping
                    // its own index), so the scan starts from it.
                    Vector256<float> maximum = Vector256.LoadUnsafe(ref topLeft, (nuint)c);
                    Vector256<int> index = Vector256.Create(first);
                    Take(Vector256.LoadUnsafe(ref topLeft, (nuint)(c + channels)), first + 1, ref maximum, ref index);
                    Take(Vector256.LoadUnsafe(ref bottomLeft, (nuint)c), first + width, ref maximum, ref index);
                    Take(Vector256.LoadUnsafe(ref bottomLeft, (nuint)(c + channels)), first + width + 1, ref maximum, ref index);
                    maximum.StoreUnsafe(ref best, (nuint)c);
                    index.StoreUnsafe(ref chosen, (nuint)c);
                }
            }
            for (; c < channels; c++)
            {
                float maximum = float.NegativeInfinity;
                int index = first;
                Consider(Unsafe.Add(ref topLeft, c), first, ref maximum, ref index);
                Consider(Unsafe.Add(ref topLeft, c + channels), first + 1, ref maximum, ref index);
                Consider(Unsafe.Add(ref bottomLeft, c), first + width, ref maximum, ref index);
                Consider(Unsafe.Add(ref bottomLeft, c + channels), first + width + 1, ref maximum, ref index);
                Unsafe.Add(ref best, c) = maximum;
                Unsafe.Add(ref chosen, c) = index;
            }
        }
        nint output = ((nint)b * channels * outPlane) + (oy * outW);
        for (int c = 0; c < channels; c++)
        {
            ref float values = ref Unsafe.Add(ref y, output + (c * outPlane));
            ref int indices = ref Unsafe.Add(ref argmax, output + (c * outPlane));
            for (int ox = 0; ox < outW; ox++)
            {
                Unsafe.Add(ref values, ox) = maxima[(ox * channels) + c];
                Unsafe.Add(ref indices, ox) = choices[(ox * channels) + c];
            }
        }
    }

    /// <summary>Consider on 8 lanes: where the candidate is greater or NaN it becomes the maximum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Take(Vector256<float> candidate, int index, ref Vector256<float> maximum, ref Vector256<int> chosen)
    {
        Vector256<float> wins = Vector256.GreaterThan(candidate, maximum) | ~Vector256.Equals(candidate, candidate);
        maximum = Vector256.ConditionalSelect(wins, candidate, maximum);
        chosen = Vector256.ConditionalSelect(wins.AsInt32(), Vector256.Create(index), chosen);
    }

    /// <summary>dx [B * H * W, C] and partials [B, C] from dy, argmax and y [B, C, OutH, OutW]: per
    /// image, rows in order; each window row's choices and masked gradients are gathered once into
    /// the worker's [OutW, C] and then serve its two rows of dx, 8 channels a vector, branch-free.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void BackwardNhwc(int worker, int workers, in PoolShape shape, bool reluMask, ref float dy, ref int argmax,
        ref float y, ref float dx, ref float partials)
    {
        int width = shape.Width, height = shape.Height, channels = shape.Channels, outH = shape.OutH, outW = shape.OutW;
        int plane = height * width, outPlane = outH * outW, windowRow = outW * channels;
        int[] choices = WindowChoices(windowRow);
        float[] gradients = WindowValues(windowRow);
        int end = Simd.RangeStart(shape.Batch, worker + 1, workers);
        for (int b = Simd.RangeStart(shape.Batch, worker, workers); b < end; b++)
        {
            nint planes = (nint)b * channels * outPlane;
            ref float target = ref Unsafe.Add(ref dx, (nint)b * plane * channels);
            ref float sums = ref Unsafe.Add(ref partials, (nint)b * channels);
            for (int c = 0; c < channels; c++)
                Unsafe.Add(ref sums, c) = 0f;
            for (int iy = 0; iy < height; iy++)
            {
                int oy = iy >> 1;
                bool pooledRow = oy < outH;
                if (pooledRow && (iy & 1) == 0)
                {
                    for (int c = 0; c < channels; c++)
                    {
                        nint source = planes + (c * outPlane) + (oy * outW);
                        for (int ox = 0; ox < outW; ox++)
                        {
                            nint output = source + ox;
                            choices[(ox * channels) + c] = Unsafe.Add(ref argmax, output);
                            // dy where the pooled y is positive (or without the mask), else +0: as bits.
                            int keep = reluMask ? -BoolAsInt(Unsafe.Add(ref y, output) > 0f) : -1;
                            gradients[(ox * channels) + c] = BitConverter.Int32BitsToSingle(
                                BitConverter.SingleToInt32Bits(Unsafe.Add(ref dy, output)) & keep);
                        }
                    }
                }
                for (int ix = 0; ix < width; ix++)
                {
                    int within = iy * width + ix;
                    ref float row = ref Unsafe.Add(ref target, (nint)within * channels);
                    int ox = ix >> 1;
                    if (pooledRow && ox < outW)
                    {
                        ref int chosen = ref choices[ox * channels];
                        ref float gradient = ref gradients[ox * channels];
                        int c = 0;
                        if (Vector256.IsHardwareAccelerated)
                        {
                            var here = Vector256.Create(within);
                            for (; c + 8 <= channels; c += 8)
                            {
                                Vector256<float> routed = Vector256.Equals(Vector256.LoadUnsafe(ref chosen, (nuint)c), here).AsSingle()
                                    & Vector256.LoadUnsafe(ref gradient, (nuint)c);
                                routed.StoreUnsafe(ref row, (nuint)c);
                                (Vector256.LoadUnsafe(ref sums, (nuint)c) + routed).StoreUnsafe(ref sums, (nuint)c);
                            }
                        }
                        for (; c < channels; c++)
                        {
                            float routed = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(Unsafe.Add(ref gradient, c))
                                & -BoolAsInt(Unsafe.Add(ref chosen, c) == within));
                            Unsafe.Add(ref row, c) = routed;
                            Unsafe.Add(ref sums, c) += routed;
                        }
                    }
                    else
                    {
                        // A dropped odd row or column: dx is 0 there, and adding +0 changes no sum
                        // (a sum that starts at +0 is never -0), so it is not added.
                        for (int c = 0; c < channels; c++)
                            Unsafe.Add(ref row, c) = 0f;
                    }
                }
            }
        }
    }

    /// <summary>1 for true, 0 for false, without a branch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int BoolAsInt(bool value) => Unsafe.As<bool, byte>(ref value);

    private static int[] WindowChoices(int length) =>
        windowChoices is { } buffer && buffer.Length >= length ? buffer : windowChoices = new int[length];

    private static float[] WindowValues(int length) =>
        windowValues is { } buffer && buffer.Length >= length ? buffer : windowValues = new float[length];
}
