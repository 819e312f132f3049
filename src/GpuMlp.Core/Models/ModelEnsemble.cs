using GpuMlp.Compute;
using GpuMlp.Data;
using GpuMlp.Metrics;
using GpuMlp.Training;

namespace GpuMlp.Models;

/// <summary>Several trained models of one schema voting by their mean class probabilities (soft
/// voting, as scikit-learn's VotingClassifier(voting="soft") and the usual "average the softmax of
/// n runs" ensembles do): each image's prediction is the argmax of (1/n)·Σ p_m, ties to the lower
/// label. The loss is the mean of −ln of the averaged probability of the true class, in double
/// (for one model that is its cross-entropy, up to float rounding).</summary>
public static class ModelEnsemble
{
    /// <summary>The element-wise mean of <paramref name="perModel"/>[m][image][class] over m.</summary>
    /// <exception cref="ArgumentException">No models, or the models' images or classes differ in number.</exception>
    public static float[][] Average(IReadOnlyList<float[][]> perModel)
    {
        ArgumentNullException.ThrowIfNull(perModel);
        if (perModel.Count == 0)
            throw new ArgumentException("an ensemble needs at least one model", nameof(perModel));
        int images = perModel[0].Length;
        var mean = new float[images][];
        for (int i = 0; i < images; i++)
        {
            int classes = perModel[0][i].Length;
            var sum = new double[classes];
            foreach (float[][] model in perModel)
            {
                if (model.Length != images || model[i].Length != classes)
                    throw new ArgumentException("every model must give the same number of images and classes", nameof(perModel));
                for (int k = 0; k < classes; k++)
                    sum[k] += model[i][k];
            }
            mean[i] = new float[classes];
            for (int k = 0; k < classes; k++)
                mean[i][k] = (float)(sum[k] / perModel.Count);
        }
        return mean;
    }

    /// <summary>Loss, accuracy and confusion of <paramref name="probabilities"/> (one row per image)
    /// against <paramref name="labels"/>.</summary>
    public static EvaluationResult Score(IReadOnlyList<float[]> probabilities, ReadOnlySpan<byte> labels, int classes)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        if (probabilities.Count != labels.Length)
            throw new ArgumentException($"{probabilities.Count} rows of probabilities for {labels.Length} labels", nameof(probabilities));
        var predicted = new byte[labels.Length];
        double loss = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            float[] row = probabilities[i];
            int best = 0;
            for (int k = 1; k < row.Length; k++)
            {
                if (row[k] > row[best])
                    best = k;
            }
            predicted[i] = (byte)best;
            // A probability that rounded to 0 counts as the smallest positive float's loss, not infinity.
            loss -= Math.Log(Math.Max(row[labels[i]], float.Epsilon));
        }
        var report = ClassificationReport.FromPredictions(labels, predicted, classes);
        return new EvaluationResult(labels.Length == 0 ? 0 : loss / labels.Length, report);
    }

    /// <summary>Each model's class probabilities for every image of <paramref name="split"/> (pixels
    /// / 255, as evaluation reads them), one model on the device at a time.</summary>
    /// <exception cref="OptionException">A model was trained on other images or classes (one line).</exception>
    public static IReadOnlyList<float[][]> PredictEach(IReadOnlyList<TrainedModel> models, ImageSet split, ImageSchema schema, KernelDevice device)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(split);
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(device);
        var results = new List<float[][]>(models.Count);
        foreach (TrainedModel model in models)
        {
            model.RequireSchema(schema);
            using var onDevice = model.Upload(device, Math.Min(256, Math.Max(1, split.Count)));
            results.Add(onDevice.Predict(split));
        }
        return results;
    }
}
