namespace GpuMlp.Kernels; internal static class Placeholder { }
