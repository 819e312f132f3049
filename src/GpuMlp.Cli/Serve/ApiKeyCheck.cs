using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace GpuMlp.Cli.Serve;

/// <summary>The optional API key: when set, every request but the page and the health probes must
/// carry it as <c>X-API-Key: KEY</c> or <c>Authorization: Bearer KEY</c>. Keys are compared as
/// SHA-256 digests with <see cref="CryptographicOperations.FixedTimeEquals"/>, so neither the
/// time taken nor the key's length says how much of a guess was right.</summary>
public sealed class ApiKeyCheck(string? key)
{
    public const string HeaderName = "X-API-Key";

    private readonly byte[]? expected = key is null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(key));

    public bool Required => expected is not null;

    /// <summary>Paths anyone may ask for: the page (which asks the user for the key) and the
    /// liveness and readiness probes.</summary>
    public static bool IsOpen(PathString path) =>
        path == "/" || path == "/v2/health/live" || path == "/v2/health/ready";

    /// <summary>True when no key is set, or <paramref name="request"/> carries it.</summary>
    public bool Allows(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (expected is null)
            return true;
        string? given = request.Headers[HeaderName].FirstOrDefault();
        if (given is null && request.Headers.Authorization.FirstOrDefault() is { } authorization
            && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            given = authorization["Bearer ".Length..].Trim();
        }
        if (given is null)
            return false;
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), expected);
    }
}
