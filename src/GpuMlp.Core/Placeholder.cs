namespace GpuMlp; internal static class Placeholder { }
