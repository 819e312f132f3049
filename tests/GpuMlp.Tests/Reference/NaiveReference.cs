// Plain float64 loops for every kernel in kernels/, written from the kernels' documented
// semantics (file headers), not from their code. Inputs are the same float32 values the kernels
// get, widened, so any difference is the kernels' float32 rounding (or a bug).
using GpuMlp.Compute;
using GpuMlp.Kernels;

namespace GpuMlp.Tests.Reference;

public static class NaiveReference
{
    public static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
            result[i] = values[i];
        return result;
    }

    // ---------------------------------------------------------------- dense layer

    /// <summary>C[M,N] = epilogue(op(A) * op(B)) with A read at a[m * AStrideM + k * AStrideK] and B at
    /// b[k * BStrideK + n * BStrideN] (kernels/DenseKernels.cs). bias is read by Bias, BiasRelu and
    /// BiasReluDropout, aux by ActiveMask; pass empty spans otherwise.</summary>
    public static double[] Gemm(
        GemmShape shape, DenseEpilogue epilogue,
        ReadOnlySpan<double> a, ReadOnlySpan<double> b, ReadOnlySpan<double> bias, ReadOnlySpan<double> aux)
    {
        var c = new double[shape.M * shape.N];
        for (int m = 0; m < shape.M; m++)
        {
            for (int n = 0; n < shape.N; n++)
            {
                double acc = 0;
                for (int k = 0; k < shape.K; k++)
                    acc += a[(m * shape.AStrideM) + (k * shape.AStrideK)] * b[(k * shape.BStrideK) + (n * shape.BStrideN)];
                int index = (m * shape.N) + n;
                c[index] = Epilogue(epilogue, index, n, acc, bias, aux);
            }
        }
        return c;
    }

    /// <summary>C = A * B for row-major A [M,K] and B [K,N] (no epilogue).</summary>
    public static double[] MatMul(ReadOnlySpan<double> a, ReadOnlySpan<double> b, int m, int n, int k) =>
        Gemm(GemmShape.Plain(m, n, k), DenseEpilogue.Of(EpilogueMode.Store), a, b, [], []);

    /// <summary>The GEMM epilogue for element `index` = m * N + n of C.</summary>
    public static double Epilogue(
        DenseEpilogue epilogue, int index, int n, double acc, ReadOnlySpan<double> bias, ReadOnlySpan<double> aux)
    {
        switch (epilogue.Mode)
        {
            case EpilogueMode.Store:
                return acc;
            case EpilogueMode.Bias:
                return acc + bias[n];
            case EpilogueMode.BiasRelu:
                return Math.Max(acc + bias[n], 0);
            case EpilogueMode.BiasReluDropout:
                double h = Math.Max(acc + bias[n], 0);
                return DropoutKernels.Keep(epilogue.Seed, epilogue.Step, epilogue.Layer, (uint)index, epilogue.DropThreshold)
                    ? h * epilogue.KeepScale
                    : 0;
            case EpilogueMode.ActiveMask:
                return aux[index] > 0 ? acc * epilogue.KeepScale : 0;
            default:
                throw new ArgumentOutOfRangeException(nameof(epilogue), epilogue.Mode, "unknown epilogue mode");
        }
    }

    /// <summary>db[n] = sum over rows of dz[m, n].</summary>
    public static double[] BiasGradient(ReadOnlySpan<double> dz, int rows, int columns)
    {
        var db = new double[columns];
        for (int m = 0; m < rows; m++)
        {
            for (int n = 0; n < columns; n++)
                db[n] += dz[(m * columns) + n];
        }
        return db;
    }

    // ---------------------------------------------------------------- input layer

    /// <summary>x[r, f] = images[order[first + r], f] / 255 and y[r] = labels[order[first + r]].</summary>
    public static (double[] X, int[] Y) Gather(
        ReadOnlySpan<byte> images, ReadOnlySpan<byte> labels, ReadOnlySpan<int> order, int first, int rows, int features)
    {
        var x = new double[rows * features];
        var y = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            int sample = order[first + r];
            for (int f = 0; f < features; f++)
                x[(r * features) + f] = images[(sample * features) + f] / 255.0;
            y[r] = labels[sample];
        }
        return (x, y);
    }

    // ---------------------------------------------------------------- softmax cross-entropy

    /// <summary>Per row: loss = -log softmax(logits)[label], prediction = argmax (lowest index on
    /// ties), dLogits = (softmax - onehot) / rows (the gradient of the batch MEAN loss).</summary>
    public static (double[] Loss, int[] Prediction, double[] DLogits) SoftmaxCrossEntropy(
        ReadOnlySpan<double> logits, ReadOnlySpan<int> labels, int rows, int classes)
    {
        var loss = new double[rows];
        var prediction = new int[rows];
        var dLogits = new double[rows * classes];
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<double> row = logits.Slice(r * classes, classes);
            int argmax = 0;
            for (int c = 1; c < classes; c++)
            {
                if (row[c] > row[argmax])
                    argmax = c;
            }
            double max = row[argmax];
            double sum = 0;
            for (int c = 0; c < classes; c++)
                sum += Math.Exp(row[c] - max);
            double logSumExp = max + Math.Log(sum);
            loss[r] = logSumExp - row[labels[r]];
            prediction[r] = argmax;
            for (int c = 0; c < classes; c++)
            {
                double p = Math.Exp(row[c] - logSumExp);
                dLogits[(r * classes) + c] = (p - (c == labels[r] ? 1 : 0)) / rows;
            }
        }
        return (loss, prediction, dLogits);
    }

    /// <summary>The batch mean of the cross-entropy loss: the scalar the kernel's dLogits is the
    /// gradient of.</summary>
    public static double MeanCrossEntropy(ReadOnlySpan<double> logits, ReadOnlySpan<int> labels, int rows, int classes) =>
        SoftmaxCrossEntropy(logits, labels, rows, classes).Loss.Average();

    /// <summary>torch's CrossEntropyLoss(label_smoothing=ε), per row, in float64 from its definition:
    /// loss = (1 − ε) (−log p[label]) + (ε / K) Σ_k −log p[k]; its gradient of the batch mean,
    /// (p − ((1 − ε) onehot + ε / K)) / rows; and the argmax.</summary>
    public static (double[] Loss, int[] Prediction, double[] DLogits) SmoothedCrossEntropy(
        ReadOnlySpan<double> logits, ReadOnlySpan<int> labels, int rows, int classes, double epsilon)
    {
        var (_, prediction, _) = SoftmaxCrossEntropy(logits, labels, rows, classes);
        var loss = new double[rows];
        var dLogits = new double[rows * classes];
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<double> row = logits.Slice(r * classes, classes);
            double max = row[prediction[r]];
            double sum = 0;
            for (int c = 0; c < classes; c++)
                sum += Math.Exp(row[c] - max);
            double logSumExp = max + Math.Log(sum);
            double negativeLogSum = 0;
            for (int c = 0; c < classes; c++)
            {
                double logP = row[c] - logSumExp;
                negativeLogSum -= logP;
                double target = ((c == labels[r] ? 1 : 0) * (1 - epsilon)) + (epsilon / classes);
                dLogits[(r * classes) + c] = (Math.Exp(logP) - target) / rows;
            }
            loss[r] = ((1 - epsilon) * (logSumExp - row[labels[r]])) + (epsilon / classes * negativeLogSum);
        }
        return (loss, prediction, dLogits);
    }

    // ---------------------------------------------------------------- Adam

    /// <summary>torch.optim.Adam (no weight decay, no amsgrad), state kept in float64.</summary>
    public sealed class Adam
    {
        public Adam(ReadOnlySpan<double> parameters)
        {
            Parameters = parameters.ToArray();
            FirstMoment = new double[parameters.Length];
            SecondMoment = new double[parameters.Length];
        }

        public double[] Parameters { get; }
        public double[] FirstMoment { get; }
        public double[] SecondMoment { get; }
        public int StepCount { get; private set; }

        /// <summary>One optimiser step t = StepCount + 1:
        /// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
        /// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).</summary>
        public void Step(ReadOnlySpan<double> gradients, double learningRate, double beta1, double beta2, double epsilon)
        {
            StepCount++;
            double correction1 = 1 - Math.Pow(beta1, StepCount);
            double correction2 = 1 - Math.Pow(beta2, StepCount);
            for (int i = 0; i < Parameters.Length; i++)
            {
                double g = gradients[i];
                FirstMoment[i] = (beta1 * FirstMoment[i]) + ((1 - beta1) * g);
                SecondMoment[i] = (beta2 * SecondMoment[i]) + ((1 - beta2) * g * g);
                double mHat = FirstMoment[i] / correction1;
                double vHat = SecondMoment[i] / correction2;
                Parameters[i] -= learningRate * mHat / (Math.Sqrt(vHat) + epsilon);
            }
        }
    }

    // ---------------------------------------------------------------- relu and dropout

    public static double[] ReluForward(ReadOnlySpan<double> z)
    {
        var h = new double[z.Length];
        for (int i = 0; i < z.Length; i++)
            h[i] = Math.Max(z[i], 0);
        return h;
    }

    /// <summary>dz = dh where the forward output h is positive (relu'(z) = [z &gt; 0] = [h &gt; 0]).</summary>
    public static double[] ReluBackward(ReadOnlySpan<double> h, ReadOnlySpan<double> dh)
    {
        var dz = new double[h.Length];
        for (int i = 0; i < h.Length; i++)
            dz[i] = h[i] > 0 ? dh[i] : 0;
        return dz;
    }

    /// <summary>Whether element i survives the mask (DropoutKernels.Keep, the kernels' own hash).</summary>
    public static bool[] KeepMask(int count, DropoutMask mask)
    {
        var keep = new bool[count];
        for (int i = 0; i < count; i++)
            keep[i] = DropoutKernels.Keep(mask.Seed, mask.Step, mask.Layer, (uint)i, mask.DropThreshold);
        return keep;
    }

    /// <summary>y = x * keepScale where kept, 0 where dropped.</summary>
    public static double[] DropoutForward(ReadOnlySpan<double> x, DropoutMask mask)
    {
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            y[i] = DropoutKernels.Keep(mask.Seed, mask.Step, mask.Layer, (uint)i, mask.DropThreshold)
                ? x[i] * mask.KeepScale
                : 0;
        }
        return y;
    }

    /// <summary>dx = dy * keepScale where kept, 0 where dropped (the same mask as the forward).</summary>
    public static double[] DropoutBackward(ReadOnlySpan<double> dy, DropoutMask mask) => DropoutForward(dy, mask);

    // ---------------------------------------------------------------- evaluation

    /// <summary>Totals of what SumPartialsKernel splits into partials: the sum of losses[0..count)
    /// and the number of i with predictions[i] == labels[order[first + i]].</summary>
    public static (double Loss, int Correct) SumTotals(
        ReadOnlySpan<float> losses, ReadOnlySpan<int> predictions, ReadOnlySpan<byte> labels,
        ReadOnlySpan<int> order, int first, int count)
    {
        double loss = 0;
        int correct = 0;
        for (int i = 0; i < count; i++)
        {
            loss += losses[i];
            if (predictions[i] == labels[order[first + i]])
                correct++;
        }
        return (loss, correct);
    }

    /// <summary>confusion[t * classes + p] = #{i : labels[order[first + i]] == t and predictions[i] == p}.</summary>
    public static int[] Confusion(
        ReadOnlySpan<int> predictions, ReadOnlySpan<byte> labels, ReadOnlySpan<int> order, int first, int count, int classes)
    {
        var confusion = new int[classes * classes];
        for (int i = 0; i < count; i++)
        {
            int truth = labels[order[first + i]];
            int predicted = predictions[i];
            if (truth < classes && predicted >= 0 && predicted < classes)
                confusion[(truth * classes) + predicted]++;
        }
        return confusion;
    }
}
