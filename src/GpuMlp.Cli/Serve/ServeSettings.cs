using System.Globalization;
using System.Net;

namespace GpuMlp.Cli.Serve;

/// <summary>How `gpumlp serve` listens, batches and limits requests; <see cref="Validate"/> refuses
/// a bad value with a one-line usage error before any model or device is touched.</summary>
public sealed record ServeSettings
{
    public const int DefaultPort = 8080;
    public const int DefaultMaxBatch = 32;
    public const double DefaultMaxWaitMs = 2;
    public const int DefaultQueue = 256;

    /// <summary>4 MiB: a drawn digit's PNG is a few kilobytes, a phone photo a few megabytes; well
    /// under Kestrel's own 30 MB.</summary>
    public const long DefaultMaxBodyBytes = 4L * 1024 * 1024;

    /// <summary>16 megapixels: a phone photo, decoded, is 64 MB of RGBA at this size.</summary>
    public const long DefaultMaxPixels = 16_000_000;

    public const int MaxTop = 1000;

    /// <summary>The address to listen on: 127.0.0.1 (this machine only) unless --host says otherwise.</summary>
    public IPAddress Host { get; init; } = IPAddress.Loopback;

    /// <summary>The TCP port; 0 lets the system choose a free one (printed when listening).</summary>
    public int Port { get; init; } = DefaultPort;

    /// <summary>Most images one forward pass takes (dynamic batching); 1 turns batching off.</summary>
    public int MaxBatch { get; init; } = DefaultMaxBatch;

    /// <summary>Longest a request waits for others to join its batch, in milliseconds.</summary>
    public double MaxWaitMs { get; init; } = DefaultMaxWaitMs;

    /// <summary>Requests waiting per model beyond which new ones are answered 503.</summary>
    public int QueueCapacity { get; init; } = DefaultQueue;

    /// <summary>The largest request body accepted, in bytes (413 above).</summary>
    public long MaxBodyBytes { get; init; } = DefaultMaxBodyBytes;

    /// <summary>The largest image accepted, in pixels as its header declares them (413 above,
    /// before any pixel is decoded).</summary>
    public long MaxPixels { get; init; } = DefaultMaxPixels;

    /// <summary>The key every API request must carry (X-API-Key or Authorization: Bearer); null: none.</summary>
    public string? ApiKey { get; init; }

    public TimeSpan MaxWait => TimeSpan.FromMilliseconds(MaxWaitMs);

    /// <exception cref="OptionException">A value out of range.</exception>
    public void Validate()
    {
        if (Port is < 0 or > 65535)
            throw new OptionException($"--port must be in 0..65535 (0: any free port) (got {Port})");
        if (MaxBatch is < 1 or > 4096)
            throw new OptionException($"--max-batch must be in 1..4096 (1: no batching) (got {MaxBatch})");
        if (!(MaxWaitMs is >= 0 and <= 1000))
            throw new OptionException(string.Create(CultureInfo.InvariantCulture, $"--max-wait-ms must be in 0..1000 (got {MaxWaitMs})"));
        if (QueueCapacity is < 1 or > 1_000_000)
            throw new OptionException($"--queue must be in 1..1000000 (got {QueueCapacity})");
        if (MaxBodyBytes is < 1024 or > 1L << 30)
            throw new OptionException($"--max-body-bytes must be in 1024..{1L << 30} (got {MaxBodyBytes})");
        if (MaxPixels is < 1 or > 100_000_000)
            throw new OptionException($"--max-pixels must be in 1..100000000 (got {MaxPixels})");
        if (ApiKey is not null && ApiKey.Length < 8)
            throw new OptionException("the API key (--api-key or GPUMLP_API_KEY) must be at least 8 characters");
    }

    /// <summary>--host: an IP address (127.0.0.1, ::1, 0.0.0.0 for every interface, ...) or "localhost".</summary>
    public static IPAddress ParseHost(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        if (string.Equals(trimmed, "localhost", StringComparison.OrdinalIgnoreCase))
            return IPAddress.Loopback;
        if (IPAddress.TryParse(trimmed.Trim('[', ']'), out var address))
            return address;
        throw new OptionException($"--host must be an IP address such as 127.0.0.1, ::1 or 0.0.0.0, or localhost (got '{text}')");
    }
}
