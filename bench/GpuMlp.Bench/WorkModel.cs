using BenchmarkDotNet.Running;

namespace GpuMlp.Bench;

/// <summary>FLOPs and bytes of one invocation of a benchmark case, for the rate columns.</summary>
public readonly record struct Work(double Flops, double Bytes)
{
    public static Work None => new(0, 0);

    public static Work Of(BenchmarkCase benchmarkCase)
    {
        var parameters = benchmarkCase.Parameters;
        int batch = parameters.Items.Any(p => p.Name == "Batch") ? (int)parameters["Batch"] : 0;
        string method = benchmarkCase.Descriptor.WorkloadMethod.Name;
        Type type = benchmarkCase.Descriptor.Type;
        if (type == typeof(GemmBenchmarks))
        {
            // GEMMs here are compute-bound: FLOP/s only (GemmProblem.MinimumBytes is the traffic floor).
            var problem = GemmProblem.For((string)parameters["Case"], batch);
            return new Work(problem.Flops, 0);
        }
        if (type == typeof(CpuSimdGemmBenchmarks))
            return new Work(CpuSimdGemmBenchmarks.Flops(batch), 0);
        if (type == typeof(CpuDeviceShapeBenchmarks))
        {
            return method switch
            {
                nameof(CpuDeviceShapeBenchmarks.Gemm) => new Work(CpuSimdGemmBenchmarks.Flops(CpuDeviceShapeBenchmarks.Batch), 0),
                nameof(CpuDeviceShapeBenchmarks.TrainStep) => new Work(StepWork.TrainFlops(CpuDeviceShapeBenchmarks.Batch), 0),
                _ => None,
            };
        }
        if (type == typeof(LayerBenchmarks))
        {
            const int hidden = LayerBenchmarks.Hidden, classes = LayerBenchmarks.Classes, features = LayerBenchmarks.Features;
            return method switch
            {
                // logits + dLogits (10 floats each), label, loss, prediction per row.
                nameof(LayerBenchmarks.SoftmaxCrossEntropy) => new Work(0, batch * (2.0 * classes * 4 + 12)),
                nameof(LayerBenchmarks.DropoutForward) => new Work(0, batch * hidden * 8.0),
                // uint8 pixel in, float out; order + label in, int label out per row.
                nameof(LayerBenchmarks.Gather) => new Work(0, batch * (features * 5.0 + 9)),
                nameof(LayerBenchmarks.BiasGradient) => new Work(batch * (double)hidden, (batch + 1.0) * hidden * 4),
                _ => None,
            };
        }
        if (type == typeof(AdamBenchmarks))
            return new Work(0, AdamBenchmarks.ParameterCount * 28.0); // p, g, m, v read; p, m, v written
        if (type == typeof(StepBenchmarks))
        {
            double upload = batch * (GemmProblem.Model.Input.Elements + 1) * 4.0;
            return method switch
            {
                nameof(StepBenchmarks.TrainStep) => new Work(StepWork.TrainFlops(batch), 0),
                nameof(StepBenchmarks.TrainStepUnfused) => new Work(StepWork.TrainFlops(batch), 0),
                // GB/s of the upload alone is UploadBatch's column; here it would be diluted by the step.
                nameof(StepBenchmarks.TrainStepWithUpload) => new Work(StepWork.TrainFlops(batch), 0),
                nameof(StepBenchmarks.UploadBatch) => new Work(0, upload),
                nameof(StepBenchmarks.ForwardOnly) => new Work(StepWork.ForwardFlops(batch), 0),
                _ => None,
            };
        }
        return None;
    }
}
