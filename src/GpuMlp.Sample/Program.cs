// Trains a small MNIST model through GpuMlp's public API, evaluates it on the 10,000 test images,
// recognises one test digit, and saves the model as safetensors and ONNX.
// Usage: dotnet run --project src/GpuMlp.Sample -c Release -- [data folder] [device] [output folder]
using GpuMlp;
using GpuMlp.Training;

string dataDir = args.ElementAtOrDefault(0) ?? "data/mnist", device = args.ElementAtOrDefault(1) ?? "auto", outDir = args.ElementAtOrDefault(2) ?? ".";

var mnist = MnistModel.LoadData(dataDir);
var options = new TrainingOptions { Epochs = 2, Hidden = [128], LimitTrain = 6000 };
using var model = MnistModel.Train(mnist, options, device, epoch => Console.WriteLine($"epoch {epoch.Epoch}: validation accuracy {epoch.ValAccuracy:P2}"));
Console.WriteLine($"{model.Shape} on {model.Device}: test accuracy {model.Evaluate(mnist).Accuracy:P2}");

var prediction = model.Predict(MnistModel.TestImage(mnist, 0));
Console.WriteLine($"test image 0 shows a {mnist.ClassNames[mnist.Test.Labels[0]]}; the model says {prediction.Digit} ({prediction.Probability:P1})");

model.Save(Path.Combine(outDir, "model.safetensors"));
model.ExportOnnx(Path.Combine(outDir, "model.onnx"));
