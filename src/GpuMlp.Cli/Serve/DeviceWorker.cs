using System.Collections.Concurrent;
using GpuMlp.Compute;
using GpuMlp.Models;

namespace GpuMlp.Cli.Serve;

/// <summary>The one thread that touches the accelerator: it opens the device, uploads every model
/// once and then runs forward passes one after another. ILGPU accelerators are not thread-safe
/// (and a CUDA context is bound to a thread), so every request's batch comes here.</summary>
public sealed class DeviceWorker : IDisposable
{
    private readonly BlockingCollection<Job> jobs = new();
    private readonly Thread thread;
    private readonly TaskCompletionSource<string> ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly DeviceRequest request;
    private readonly CpuSimdRequest simd;
    private readonly IReadOnlyList<ServedModel> models;
    private readonly int maxRows;
    private DeviceModel[] uploaded = [];

    /// <summary>Closed, the worker holds each pass until it opens again: tests fill the queues
    /// deterministically with it. Open unless a test closes it.</summary>
    internal ManualResetEventSlim Gate { get; } = new(initialState: true);

    private sealed record Job(int Model, IReadOnlyList<float[]> Rows, TaskCompletionSource<float[][]> Done);

    private DeviceWorker(DeviceRequest request, CpuSimdRequest simd, IReadOnlyList<ServedModel> models, int maxRows)
    {
        this.request = request;
        this.simd = simd;
        this.models = models;
        this.maxRows = maxRows;
        thread = new Thread(Run) { IsBackground = true, Name = "gpumlp device" };
    }

    /// <summary>The device's description once it is open and every model uploaded.</summary>
    public string Description { get; private set; } = "";

    /// <summary>Opens the device and uploads <paramref name="models"/> (room for
    /// <paramref name="maxRows"/> rows per launch) on the worker thread; device and model errors
    /// surface here.</summary>
    public static DeviceWorker Start(DeviceRequest request, CpuSimdRequest simd, IReadOnlyList<ServedModel> models, int maxRows)
    {
        ArgumentNullException.ThrowIfNull(models);
        var worker = new DeviceWorker(request, simd, models, maxRows);
        worker.thread.Start();
        try
        {
            worker.Description = worker.ready.Task.GetAwaiter().GetResult();
        }
        catch
        {
            worker.thread.Join();
            throw;
        }
        return worker;
    }

    /// <summary>Class probabilities of <paramref name="rows"/> (each the model's C*H*W values), one
    /// forward pass per <c>maxRows</c> rows, as <see cref="DeviceModel.Predict"/> gives them.</summary>
    public Task<float[][]> Predict(int model, IReadOnlyList<float[]> rows)
    {
        var done = new TaskCompletionSource<float[][]>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            jobs.Add(new Job(model, rows, done));
        }
        catch (InvalidOperationException)
        {
            done.SetException(new ObjectDisposedException(nameof(DeviceWorker), "the server is stopping"));
        }
        return done.Task;
    }

    private void Run()
    {
        KernelDevice? device = null;
        try
        {
            device = KernelDevice.Open(request, simd);
            uploaded = new DeviceModel[models.Count];
            for (int i = 0; i < models.Count; i++)
                uploaded[i] = models[i].Model.Upload(device, maxRows);
        }
        catch (Exception error)
        {
            foreach (var model in uploaded)
                model?.Dispose();
            device?.Dispose();
            ready.SetException(error);
            return;
        }
        ready.SetResult(device.Description);
        try
        {
            foreach (var job in jobs.GetConsumingEnumerable())
            {
                Gate.Wait();
                try
                {
                    job.Done.SetResult(uploaded[job.Model].Predict(job.Rows));
                }
                catch (Exception error)
                {
                    job.Done.SetException(error);
                }
            }
        }
        finally
        {
            foreach (var model in uploaded)
                model.Dispose();
            device.Dispose();
        }
    }

    /// <summary>Finishes the queued passes, then frees the models and the device.</summary>
    public void Dispose()
    {
        jobs.CompleteAdding();
        if (thread.IsAlive)
            thread.Join();
        jobs.Dispose();
        Gate.Dispose();
    }
}
