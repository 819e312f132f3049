// torch.optim's update rules in float64, written line by line from the algorithm boxes of the
// PyTorch documentation (torch.optim.Adam, AdamW, SGD, RMSprop; maximize and amsgrad off), not from
// the kernels. Hyperparameters and the learning rate are the float32 values the device gets, widened;
// the state is created the way torch creates it (SGD's momentum_buffer on the first step, only with
// momentum; RMSprop's momentum_buffer only with momentum > 0 and grad_avg only when centered), so the
// set of state names is checked as well as the values.
using GpuMlp.Training;

namespace GpuMlp.Tests.Reference;

public sealed class TorchOptimizerReference
{
    private readonly OptimizerSettings settings;

    public TorchOptimizerReference(OptimizerSettings settings, ReadOnlySpan<double> parameters)
    {
        this.settings = settings;
        Parameters = parameters.ToArray();
    }

    public double[] Parameters { get; }

    /// <summary>State tensors by torch's state_dict names.</summary>
    public Dictionary<string, double[]> State { get; } = new(StringComparer.Ordinal);

    /// <summary>t of the last step (1-based).</summary>
    public int StepCount { get; private set; }

    /// <summary>One step; <paramref name="momentum"/>, when given, is this step's beta1 (adam, adamw) or
    /// momentum (sgd, rmsprop), as torch's OneCycleLR writes it into the parameter group before the
    /// step (Adam's bias correction 1 − β1^t then uses it).</summary>
    public void Step(ReadOnlySpan<double> gradients, double learningRate, double? momentum = null)
    {
        StepCount++;
        stepMomentum = momentum;
        switch (settings.Kind)
        {
            case OptimizerKind.Adam:
            case OptimizerKind.AdamW:
                Adam(gradients, learningRate, decoupled: settings.Kind == OptimizerKind.AdamW);
                break;
            case OptimizerKind.Sgd:
                Sgd(gradients, learningRate);
                break;
            case OptimizerKind.Rmsprop:
                Rmsprop(gradients, learningRate);
                break;
            default:
                // A new optimiser needs its reference here before OptimizerTests can check it.
                throw new ArgumentOutOfRangeException(nameof(settings), settings.Kind, "no torch reference for this optimizer");
        }
    }

    private double? stepMomentum;

    private double[] Tensor(string name) =>
        State.TryGetValue(name, out var values) ? values : State[name] = new double[Parameters.Length];

    /// <summary>Adam: if λ ≠ 0, g ← g + λθ; AdamW instead θ ← θ − γλθ. Then m ← β1 m + (1 − β1) g,
    /// v ← β2 v + (1 − β2) g², m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t), θ ← θ − γ m̂ / (√v̂ + ε).</summary>
    private void Adam(ReadOnlySpan<double> gradients, double lr, bool decoupled)
    {
        double beta1 = stepMomentum ?? settings.Beta1, beta2 = settings.Beta2, eps = settings.Epsilon, wd = settings.WeightDecay;
        double[] m = Tensor(Optimizers.ExpAvg), v = Tensor(Optimizers.ExpAvgSq);
        double correction1 = 1 - Math.Pow(beta1, StepCount), correction2 = 1 - Math.Pow(beta2, StepCount);
        for (int i = 0; i < Parameters.Length; i++)
        {
            double g = gradients[i];
            if (decoupled)
                Parameters[i] -= lr * wd * Parameters[i];
            else if (wd != 0)
                g += wd * Parameters[i];
            m[i] = (beta1 * m[i]) + ((1 - beta1) * g);
            v[i] = (beta2 * v[i]) + ((1 - beta2) * g * g);
            double mHat = m[i] / correction1, vHat = v[i] / correction2;
            Parameters[i] -= lr * mHat / (Math.Sqrt(vHat) + eps);
        }
    }

    /// <summary>SGD: if λ ≠ 0, g ← g + λθ. If μ ≠ 0: b ← g on the first step, else b ← μ b + (1 − τ) g;
    /// g ← g + μ b with Nesterov, else g ← b. θ ← θ − γ g.</summary>
    private void Sgd(ReadOnlySpan<double> gradients, double lr)
    {
        double momentum = stepMomentum ?? settings.Momentum, dampening = settings.Dampening, wd = settings.WeightDecay;
        bool first = !State.ContainsKey(Optimizers.MomentumBuffer);
        double[]? b = momentum != 0 ? Tensor(Optimizers.MomentumBuffer) : null;
        for (int i = 0; i < Parameters.Length; i++)
        {
            double g = gradients[i];
            if (wd != 0)
                g += wd * Parameters[i];
            if (b is not null)
            {
                b[i] = first ? g : (momentum * b[i]) + ((1 - dampening) * g);
                g = settings.Nesterov ? g + (momentum * b[i]) : b[i];
            }
            Parameters[i] -= lr * g;
        }
    }

    /// <summary>RMSprop: if λ ≠ 0, g ← g + λθ. v ← α v + (1 − α) g²; ṽ ← v; centered: ḡ ← α ḡ + (1 − α) g,
    /// ṽ ← ṽ − ḡ². If μ &gt; 0: b ← μ b + g / (√ṽ + ε), θ ← θ − γ b; else θ ← θ − γ g / (√ṽ + ε).</summary>
    private void Rmsprop(ReadOnlySpan<double> gradients, double lr)
    {
        double alpha = settings.Alpha, eps = settings.Epsilon, wd = settings.WeightDecay, momentum = stepMomentum ?? settings.Momentum;
        double[] v = Tensor(Optimizers.SquareAvg);
        double[]? b = momentum > 0 ? Tensor(Optimizers.MomentumBuffer) : null;
        double[]? gAverage = settings.Centered ? Tensor(Optimizers.GradAvg) : null;
        for (int i = 0; i < Parameters.Length; i++)
        {
            double g = gradients[i];
            if (wd != 0)
                g += wd * Parameters[i];
            v[i] = (alpha * v[i]) + ((1 - alpha) * g * g);
            double vTilde = v[i];
            if (gAverage is not null)
            {
                gAverage[i] = (gAverage[i] * alpha) + ((1 - alpha) * g);
                vTilde -= gAverage[i] * gAverage[i];
            }
            double scaled = g / (Math.Sqrt(vTilde) + eps);
            if (b is not null)
            {
                b[i] = (momentum * b[i]) + scaled;
                Parameters[i] -= lr * b[i];
            }
            else
            {
                Parameters[i] -= lr * scaled;
            }
        }
    }
}
