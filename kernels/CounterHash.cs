// The stateless counter-based hash behind every pseudo-random draw of training.
//
// A draw is a pure function of counters (seed, step, stream, element), never of a generator's
// state, so any backend (CUDA, OpenCL, CPU, the SIMD kernels) and any launch shape or thread
// count draws the identical bits, and a backward pass can recompute what its forward pass drew.
// Its users:
//   - dropout masks (DropoutKernels.cs, the fused GEMM epilogue in DenseKernels.cs, the SIMD
//     epilogues in Cpu/SimdOps.cs): Bits(seed, step, layer, element) with the layer's index
//     as the stream;
//   - the random shifts of the shifted gather (BatchGatherKernels.Shift, Cpu/CpuBatchGatherKernels.cs):
//     Bits(seed, step, BatchGatherKernels.ShiftStream, row);
//   - the host's epoch shuffle (Trainer.EpochOrder): EpochSeed(seed, epoch) seeds the
//     shuffle's generator.
//
// Everything here is static and works on value types only, so the kernels can call it.
namespace GpuMlp.Kernels;

public static class CounterHash
{
    /// <summary>A 32-bit finaliser with full avalanche (lowbias32, Wellons): every input bit
    /// flips each output bit with probability close to 1/2. The vector SIMD kernels
    /// (Cpu/SimdOps.cs) repeat these five steps lane-wise; they must stay in step with it.</summary>
    public static uint Mix(uint x)
    {
        x ^= x >> 16;
        x *= 0x7feb352dU;
        x ^= x >> 15;
        x *= 0x846ca68bU;
        x ^= x >> 16;
        return x;
    }

    /// <summary>The key of one (seed, step, stream): Bits(seed, step, stream, element) =
    /// Mix(element ^ Key(seed, step, stream)), so a loop over elements hashes the key once.</summary>
    public static uint Key(uint seed, uint step, uint stream) =>
        Mix(step ^ Mix(seed ^ Mix(stream + 0x9E3779B9U)));

    /// <summary>The 32 bits drawn for one element of one stream at one step of a run seeded with
    /// seed: Mix(element ^ Mix(step ^ Mix(seed ^ Mix(stream + 0x9E3779B9)))).</summary>
    public static uint Bits(uint seed, uint step, uint stream, uint element) =>
        Mix(element ^ Key(seed, step, stream));

    /// <summary>The non-negative seed of an epoch's shuffle generator (Trainer.EpochOrder):
    /// Mix(seed ^ Mix(epoch + 0x5eed)) with the sign bit cleared.</summary>
    public static int EpochSeed(int seed, int epoch) =>
        (int)(Mix((uint)seed ^ Mix((uint)epoch + 0x5eedU)) & int.MaxValue);
}
