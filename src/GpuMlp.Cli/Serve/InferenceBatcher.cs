using System.Threading.Channels;

namespace GpuMlp.Cli.Serve;

/// <summary>The queue is full: the request is refused (503) rather than the queue growing.</summary>
public sealed class QueueFullException(string message) : Exception(message);

/// <summary>
/// Dynamic batching for one model: requests (each one or more input rows) wait in a bounded queue;
/// one loop takes the first, gathers more until the batch holds <c>maxBatch</c> rows or
/// <c>maxWait</c> has passed since the first was taken, and sends the batch to the device as one
/// pass (<see cref="DeviceWorker"/>). A request whose rows would overflow the batch waits for the
/// next. A full queue refuses new requests at once (<see cref="QueueFullException"/>).
/// </summary>
public sealed class InferenceBatcher
{
    private readonly Channel<Pending> queue;
    private readonly DeviceWorker device;
    private readonly int model;
    private readonly int maxBatch;
    private readonly TimeSpan maxWait;
    private readonly Task loop;
    private long batches;
    private long batchedRows;

    private sealed record Pending(IReadOnlyList<float[]> Rows, TaskCompletionSource<float[][]> Done);

    public InferenceBatcher(DeviceWorker device, int model, int maxBatch, TimeSpan maxWait, int capacity)
    {
        ArgumentNullException.ThrowIfNull(device);
        this.device = device;
        this.model = model;
        this.maxBatch = maxBatch;
        this.maxWait = maxWait;
        queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        loop = Task.Run(RunAsync);
    }

    /// <summary>Requests waiting in the queue now.</summary>
    public int Queued => queue.Reader.Count;

    /// <summary>Forward passes run so far, and the rows they held (their mean is the batch size).</summary>
    public (long Batches, long Rows) Counts => (Interlocked.Read(ref batches), Interlocked.Read(ref batchedRows));

    /// <summary>The class probabilities of <paramref name="rows"/>, in order, once their batch has run.</summary>
    /// <exception cref="QueueFullException">The queue holds its capacity of requests already.</exception>
    public Task<float[][]> Predict(IReadOnlyList<float[]> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var done = new TaskCompletionSource<float[][]>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!queue.Writer.TryWrite(new Pending(rows, done)))
            throw new QueueFullException("the server is busy: its request queue is full; retry shortly");
        return done.Task;
    }

    /// <summary>Refuses new requests, lets every queued one finish and returns when the loop has ended.</summary>
    public Task CompleteAsync()
    {
        queue.Writer.TryComplete();
        return loop;
    }

    private async Task RunAsync()
    {
        var reader = queue.Reader;
        var batch = new List<Pending>();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (!reader.TryRead(out var first))
                continue;
            batch.Clear();
            batch.Add(first);
            int rows = first.Rows.Count;
            if (maxBatch > 1)
                rows = await GatherAsync(reader, batch, rows).ConfigureAwait(false);
            await RunBatchAsync(batch, rows).ConfigureAwait(false);
        }
    }

    /// <summary>Adds queued requests to <paramref name="batch"/> while they fit in maxBatch rows,
    /// waiting for more until maxWait after the first was taken; returns the rows gathered.</summary>
    private async Task<int> GatherAsync(ChannelReader<Pending> reader, List<Pending> batch, int rows)
    {
        long deadline = Environment.TickCount64 + (long)Math.Ceiling(maxWait.TotalMilliseconds);
        while (rows < maxBatch)
        {
            if (reader.TryPeek(out var next))
            {
                if (rows + next.Rows.Count > maxBatch)
                    break;
                reader.TryRead(out _);
                batch.Add(next);
                rows += next.Rows.Count;
                continue;
            }
            long left = deadline - Environment.TickCount64;
            if (left <= 0)
                break;
            using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(left));
            try
            {
                if (!await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false))
                    break;
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return rows;
    }

    private async Task RunBatchAsync(List<Pending> batch, int rows)
    {
        var inputs = new List<float[]>(rows);
        foreach (var pending in batch)
            inputs.AddRange(pending.Rows);
        float[][] outputs;
        try
        {
            outputs = await device.Predict(model, inputs).ConfigureAwait(false);
        }
        catch (Exception error)
        {
            foreach (var pending in batch)
                pending.Done.TrySetException(error);
            return;
        }
        Interlocked.Increment(ref batches);
        Interlocked.Add(ref batchedRows, rows);
        int at = 0;
        foreach (var pending in batch)
        {
            pending.Done.TrySetResult(outputs[at..(at + pending.Rows.Count)]);
            at += pending.Rows.Count;
        }
    }
}
