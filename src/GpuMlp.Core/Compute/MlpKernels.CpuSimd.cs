using GpuMlp.Kernels;
using GpuMlp.Kernels.Cpu;
using ILGPU;
using ILGPU.Runtime;

namespace GpuMlp.Compute;

// The CPU accelerator's SIMD kernel set (kernels/Cpu): every kernel of a training step with a
// Vector512, Vector256 or scalar inner loop in an [External] helper. These kernels are persistent:
// one launch index per worker thread (KernelConfig(groups, group size) = the accelerator's worker
// threads), each worker owning a fixed share of the outputs, so a launch costs one wake-up of the
// workers whatever the problem size, and results never depend on scheduling.
public sealed partial class MlpKernels
{
    private readonly CpuSimdLaunchers? simd;

    /// <summary>The SIMD path of the CPU kernel set; null when the portable kernels run (a GPU, the GPU
    /// launch profile, a forced GEMM variant, or --cpu-simd off).</summary>
    public CpuSimdWidth? CpuSimd { get; }

    /// <summary>Worker threads of one CPU SIMD launch (0 when the SIMD set is not used).</summary>
    public int CpuWorkers => simd?.Workers ?? 0;

    private sealed class CpuSimdLaunchers
    {
        private readonly CpuSimdWidth width;
        private readonly KernelConfig config;
        private readonly Action<KernelConfig, GemmShape, DenseEpilogue, CpuSimdWidth, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, ArrayView<float>> gemm;
        private readonly Action<KernelConfig, CpuSimdWidth, ArrayView<float>, int, int, ArrayView<float>> biasGradient;
        private readonly Action<KernelConfig, CpuSimdWidth, ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int,
            ArrayView<float>, ArrayView<int>> gather;
        private readonly Action<KernelConfig, CpuSimdWidth, ArrayView<float>, ArrayView<int>, int, int, float, int, ArrayView<float>,
            int, ArrayView<float>, ArrayView<int>> softmaxCrossEntropy;
        private readonly Action<KernelConfig, CpuSimdWidth, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, AdamStep> adam;
        private readonly Action<KernelConfig, CpuSimdWidth, ArrayView<float>, ArrayView<int>, ArrayView<byte>, ArrayView<int>,
            int, int, int, ArrayView<double>, ArrayView<int>> sumPartials;
        private readonly Action<KernelConfig, ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<int>> confusion;

        public CpuSimdLaunchers(Accelerator accelerator, CpuSimdWidth width, int workers)
        {
            this.width = width;
            Workers = workers;
            config = new KernelConfig(accelerator.NumMultiprocessors, workers / accelerator.NumMultiprocessors);
            gemm = accelerator.LoadStreamKernel<GemmShape, DenseEpilogue, CpuSimdWidth, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(CpuDenseLayer.DenseGemmSimdKernel);
            biasGradient = accelerator.LoadStreamKernel<CpuSimdWidth, ArrayView<float>, int, int, ArrayView<float>>(
                CpuDenseLayer.DenseBiasGradientSimdKernel);
            gather = accelerator.LoadStreamKernel<CpuSimdWidth, ArrayView<byte>, ArrayView<byte>, ArrayView<int>, int, int, int,
                ArrayView<float>, ArrayView<int>>(CpuInputLayer.GatherBatchSimdKernel);
            softmaxCrossEntropy = accelerator.LoadStreamKernel<CpuSimdWidth, ArrayView<float>, ArrayView<int>, int, int, float, int,
                ArrayView<float>, int, ArrayView<float>, ArrayView<int>>(CpuSoftmaxCrossEntropyLayer.SoftmaxCrossEntropySimdKernel);
            adam = accelerator.LoadStreamKernel<CpuSimdWidth, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                int, AdamStep>(CpuAdamOptimizer.AdamSimdKernel);
            sumPartials = accelerator.LoadStreamKernel<CpuSimdWidth, ArrayView<float>, ArrayView<int>, ArrayView<byte>, ArrayView<int>,
                int, int, int, ArrayView<double>, ArrayView<int>>(CpuEvaluationLayer.SumPartialsSimdKernel);
            confusion = accelerator.LoadStreamKernel<ArrayView<int>, ArrayView<byte>, ArrayView<int>, int, int, int, ArrayView<int>>(
                CpuEvaluationLayer.ConfusionSimdKernel);
        }

        public int Workers { get; }

        public void Gemm(in GemmShape shape, in DenseEpilogue epilogue, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
            ArrayView<float> bias, ArrayView<float> aux, ArrayView<float> bColumnSums, bool sumBColumns) =>
            gemm(config, shape, epilogue, width, a, b, c, bias, aux, sumBColumns ? 1 : 0, bColumnSums);

        public void BiasGradient(ArrayView<float> dz, int rows, int columns, ArrayView<float> db) =>
            biasGradient(config, width, dz, rows, columns, db);

        public void Gather(ArrayView<byte> images, ArrayView<byte> labels, ArrayView<int> order,
            int first, int rows, int features, ArrayView<float> x, ArrayView<int> y) =>
            gather(config, width, images, labels, order, first, rows, features, x, y);

        public void SoftmaxCrossEntropy(ArrayView<float> logits, ArrayView<int> labels, int rows, int classes, float gradientScale,
            int writeGradient, ArrayView<float> dLogits, int first, ArrayView<float> loss, ArrayView<int> prediction) =>
            softmaxCrossEntropy(config, width, logits, labels, rows, classes, gradientScale, writeGradient, dLogits, first, loss, prediction);

        public void Adam(ArrayView<float> parameters, ArrayView<float> gradients, ArrayView<float> firstMoment,
            ArrayView<float> secondMoment, int count, AdamStep step) =>
            adam(config, width, parameters, gradients, firstMoment, secondMoment, count, step);

        public void SumPartials(ArrayView<float> losses, ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
            int first, int count, int partialCount, ArrayView<double> lossPartials, ArrayView<int> correctPartials) =>
            sumPartials(config, width, losses, predictions, labels, order, first, count, partialCount, lossPartials, correctPartials);

        public void Confusion(ArrayView<int> predictions, ArrayView<byte> labels, ArrayView<int> order,
            int first, int count, int classes, ArrayView<int> matrix) =>
            confusion(config, predictions, labels, order, first, count, classes, matrix);
    }
}
