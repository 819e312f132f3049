using System.Net;
using System.Reflection;
using System.Text.Json;
using GpuMlp.Compute;
using GpuMlp.Imaging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace GpuMlp.Cli.Serve;

/// <summary>
/// The HTTP server of `gpumlp serve`: ASP.NET Core minimal APIs on Kestrel, built bare (no
/// appsettings, no environment URLs, no static files: no request can read or write a file).
/// Every model is uploaded once by the <see cref="DeviceWorker"/>; each has its own
/// <see cref="InferenceBatcher"/>. Routes: the page at /, POST /predict[/{name}] (an image body or
/// a multipart field "file"), GET /models, and KServe v2 (Open Inference Protocol): GET /v2,
/// /v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready and
/// POST /v2/models/{name}/infer. Stopping (SIGTERM, Ctrl-C or <see cref="StopAsync"/>) lets
/// in-flight requests finish.
/// </summary>
public sealed class ModelServer : IAsyncDisposable
{
    public const string PageResource = "GpuMlp.Cli.Serve.page.html";
    public const string InputName = "input";
    public const string OutputName = "probabilities";
    public const string ModelVersion = "1";

    internal static JsonSerializerOptions Json { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        // Answers are application/json, never embedded in HTML: quotes and apostrophes stay readable.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly ServeSettings settings;
    private readonly IReadOnlyList<ServedModel> models;
    private readonly DeviceWorker device;
    private readonly InferenceBatcher[] batchers;
    private readonly WebApplication app;
    private readonly ApiKeyCheck key;
    private readonly byte[] page;
    private bool stopped;

    private ModelServer(ServeSettings settings, IReadOnlyList<ServedModel> models, DeviceWorker device)
    {
        this.settings = settings;
        this.models = models;
        this.device = device;
        key = new ApiKeyCheck(settings.ApiKey);
        batchers = [.. models.Select((_, i) => new InferenceBatcher(device, i, settings.MaxBatch, settings.MaxWait, settings.QueueCapacity))];
        page = ReadPage();
        app = Build();
    }

    public IReadOnlyList<ServedModel> Models => models;

    /// <summary>The device every model runs on.</summary>
    public string DeviceDescription => device.Description;

    /// <summary>The thread that runs every pass (tests hold it with its gate).</summary>
    internal DeviceWorker Device => device;

    /// <summary>Requests waiting per model, in model order.</summary>
    public IReadOnlyList<int> Queued => [.. batchers.Select(b => b.Queued)];

    /// <summary>Each model's forward passes and the rows they held, in model order.</summary>
    public IReadOnlyList<(long Batches, long Rows)> BatchCounts => [.. batchers.Select(b => b.Counts)];

    /// <summary>Uploads <paramref name="models"/> onto the device and binds the address; the server
    /// answers once <see cref="StartAsync"/> returns.</summary>
    public static ModelServer Create(ServeSettings settings, IReadOnlyList<ServedModel> models, DeviceRequest request, CpuSimdRequest simd)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(models);
        settings.Validate();
        var device = DeviceWorker.Start(request, simd, models, settings.MaxBatch);
        try
        {
            return new ModelServer(settings, models, device);
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    /// <summary>Starts listening; returns the address it listens on (with the port chosen when --port 0).</summary>
    public async Task<Uri> StartAsync(CancellationToken cancel = default)
    {
        await app.StartAsync(cancel).ConfigureAwait(false);
        var addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
        return new Uri(addresses.First());
    }

    /// <summary>Returns when SIGTERM or Ctrl-C (or <see cref="StopAsync"/>) has stopped the server
    /// and every in-flight request has been answered.</summary>
    public Task WaitForShutdownAsync() => app.WaitForShutdownAsync();

    public Task StopAsync() => app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        if (stopped)
            return;
        stopped = true;
        await app.StopAsync().ConfigureAwait(false);
        foreach (var batcher in batchers)
            await batcher.CompleteAsync().ConfigureAwait(false);
        device.Dispose();
        await app.DisposeAsync().ConfigureAwait(false);
    }

    private static byte[] ReadPage()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(PageResource)
            ?? throw new InvalidOperationException($"the page {PageResource} is not embedded in the CLI");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private WebApplication Build()
    {
        // The empty builder reads no appsettings.json and no ASPNETCORE_URLS: only what is set here.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(settings.Host, settings.Port);
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = settings.MaxBodyBytes;
        });
        builder.Services.AddRoutingCore();
        builder.Services.Configure<FormOptions>(form =>
        {
            form.MultipartBodyLengthLimit = settings.MaxBodyBytes;
            form.ValueCountLimit = 16;
        });
        builder.Services.Configure<ConsoleLifetimeOptions>(lifetime => lifetime.SuppressStatusMessages = true);
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.Logging.ClearProviders();
        var web = builder.Build();

        web.Use(async (context, next) =>
        {
            if (!ApiKeyCheck.IsOpen(context.Request.Path) && !key.Allows(context.Request))
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await WriteError(context, StatusCodes.Status401Unauthorized,
                    $"this server needs its API key: send the header {ApiKeyCheck.HeaderName}: KEY or Authorization: Bearer KEY").ConfigureAwait(false);
                return;
            }
            // Refused from its declared length before any of the body is read (a body without a
            // length is cut off by Kestrel at the same limit while it is read).
            if (context.Request.ContentLength > settings.MaxBodyBytes)
            {
                await WriteError(context, StatusCodes.Status413PayloadTooLarge,
                    $"the request body is {context.Request.ContentLength} bytes; this server accepts at most {settings.MaxBodyBytes} (--max-body-bytes)").ConfigureAwait(false);
                return;
            }
            await next(context).ConfigureAwait(false);
            // What routing answers with an empty body (405 for a method a route does not take) as JSON too.
            if (!context.Response.HasStarted && context.Response.StatusCode >= 400 && context.Response.ContentType is null)
            {
                string message = context.Response.StatusCode == StatusCodes.Status405MethodNotAllowed
                    ? $"{context.Request.Method} is not allowed on {context.Request.Path}"
                    : $"no such endpoint: {context.Request.Method} {context.Request.Path}";
                await WriteError(context, context.Response.StatusCode, message).ConfigureAwait(false);
            }
        });

        web.MapGet("/", context =>
        {
            context.Response.ContentType = "text/html; charset=utf-8";
            context.Response.Headers.CacheControl = "no-cache";
            // The page runs only its own inline script and talks only to this server.
            context.Response.Headers.ContentSecurityPolicy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; connect-src 'self'";
            return context.Response.Body.WriteAsync(page).AsTask();
        });
        web.MapGet("/models", Answer(_ => new
        {
            Models = models.Select(Describe).ToArray(),
            MaxBodyBytes = settings.MaxBodyBytes,
            MaxPixels = settings.MaxPixels,
        }));
        web.MapPost("/predict", AnswerAsync(context => PredictImage(context, 0))).DisableAntiforgery();
        web.MapPost("/predict/{name}", AnswerAsync(context => PredictImage(context, Find(context)))).DisableAntiforgery();

        web.MapGet("/v2", Answer(_ => new
        {
            Name = "gpumlp",
            Version = typeof(ModelServer).Assembly.GetName().Version?.ToString() ?? "",
            Extensions = Array.Empty<string>(),
        }));
        web.MapGet("/v2/health/live", Answer(_ => new { Live = true }));
        web.MapGet("/v2/health/ready", Answer(_ => new { Ready = true }));
        web.MapGet("/v2/models/{name}", Answer(context => Metadata(models[Find(context)])));
        web.MapGet("/v2/models/{name}/ready", Answer(context => new { Name = models[Find(context)].Name, Ready = true }));
        web.MapPost("/v2/models/{name}/infer", AnswerAsync(context => Infer(context, Find(context))));
        web.MapPost("/v2/models/{name}/versions/{version}/infer", AnswerAsync(context =>
        {
            int model = Find(context);
            string version = context.Request.RouteValues["version"] as string ?? "";
            if (version != ModelVersion)
                throw new RequestRefusedException(StatusCodes.Status404NotFound, $"model '{models[model].Name}' has only version {ModelVersion}, not '{version}'");
            return Infer(context, model);
        }));
        web.MapFallback(context => WriteError(context, StatusCodes.Status404NotFound,
            $"no such endpoint: {context.Request.Method} {context.Request.Path}; see / for the page, POST /predict, or /v2"));
        return web;
    }

    /// <summary>The index of the model named in the route; 404 when there is none.</summary>
    private int Find(HttpContext context)
    {
        string name = context.Request.RouteValues["name"] as string ?? "";
        for (int i = 0; i < models.Count; i++)
        {
            if (string.Equals(models[i].Name, name, StringComparison.Ordinal))
                return i;
        }
        throw new RequestRefusedException(StatusCodes.Status404NotFound,
            $"unknown model '{name}'; this server has {string.Join(", ", models.Select(m => m.Name))}");
    }

    private static object Describe(ServedModel model) => new
    {
        model.Name,
        Architecture = model.Model.Name,
        InputShape = new[] { model.Model.Schema.Shape.Channels, model.Model.Schema.Shape.Height, model.Model.Schema.Shape.Width },
        Preprocess = Preprocessing.Name(model.Preprocessing),
        ClassNames = model.Model.Schema.ClassNames,
    };

    /// <summary>KServe v2 model metadata, with the class names and input shape as parameters.</summary>
    private static object Metadata(ServedModel model)
    {
        var shape = model.Model.Schema.Shape;
        long[] input = model.Model.IsMlp ? [-1, shape.Pixels] : [-1, shape.Channels, shape.Height, shape.Width];
        return new
        {
            model.Name,
            Versions = new[] { ModelVersion },
            Platform = "gpumlp",
            Inputs = new[] { new { Name = InputName, Datatype = "FP32", Shape = input } },
            Outputs = new[] { new { Name = OutputName, Datatype = "FP32", Shape = new long[] { -1, model.Classes } } },
            Parameters = Describe(model),
        };
    }

    /// <summary>An endpoint that answers what <paramref name="body"/> returns as JSON (200), or a
    /// refusal as <c>{"error": "..."}</c> with its status.</summary>
    private static RequestDelegate Answer(Func<HttpContext, object> body) => AnswerAsync(context => Task.FromResult(body(context)));

    private static RequestDelegate AnswerAsync(Func<HttpContext, Task<object>> body) => context => Handle(context, body);

    private static async Task Handle(HttpContext context, Func<HttpContext, Task<object>> body)
    {
        object answer;
        try
        {
            answer = await body(context).ConfigureAwait(false);
        }
        catch (RequestRefusedException refused)
        {
            if (refused.Status == StatusCodes.Status503ServiceUnavailable)
                context.Response.Headers.RetryAfter = "1";
            await WriteError(context, refused.Status, refused.Message).ConfigureAwait(false);
            return;
        }
        catch (QueueFullException busy)
        {
            context.Response.Headers.RetryAfter = "1";
            await WriteError(context, StatusCodes.Status503ServiceUnavailable, busy.Message).ConfigureAwait(false);
            return;
        }
        catch (BadHttpRequestException bad)
        {
            string message = bad.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? "the request body is larger than this server accepts (--max-body-bytes)"
                : $"bad request: {bad.Message}";
            await WriteError(context, bad.StatusCode, message).ConfigureAwait(false);
            return;
        }
        catch (ObjectDisposedException)
        {
            await WriteError(context, StatusCodes.Status503ServiceUnavailable, "the server is stopping").ConfigureAwait(false);
            return;
        }
#pragma warning disable CA1031 // Any other failure (the device's) is the server's fault: logged on
        // stderr as one line; the client gets a JSON error without the server's details.
        catch (Exception error)
        {
            await Console.Error.WriteLineAsync($"gpumlp: serve: {context.Request.Method} {context.Request.Path} failed: {error.GetType().Name}: {error.Message}").ConfigureAwait(false);
            await WriteError(context, StatusCodes.Status500InternalServerError, "the server failed to answer; its log says why").ConfigureAwait(false);
            return;
        }
#pragma warning restore CA1031
        context.Response.StatusCode = StatusCodes.Status200OK;
        await context.Response.WriteAsJsonAsync(answer, Json).ConfigureAwait(false);
    }

    private static Task WriteError(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new { Error = message }, Json);
    }

    /// <summary>POST /predict: the image from the body (raw bytes, or the multipart field "file"),
    /// refused above the pixel limit from its header alone, prepared as `predict` prepares a file,
    /// batched, and answered with the top classes and the input the model saw.</summary>
    private async Task<object> PredictImage(HttpContext context, int model)
    {
        var served = models[model];
        int top = TopCount(context.Request, served.Classes);
        byte[] encoded = await ReadImage(context.Request).ConfigureAwait(false);
        var declared = DigitImage.DeclaredSize(encoded)
            ?? throw new RequestRefusedException(StatusCodes.Status415UnsupportedMediaType,
                $"the body is not a PNG, JPEG, WebP, GIF or BMP image ({encoded.Length} bytes)");
        if ((long)declared.Width * declared.Height > settings.MaxPixels)
        {
            throw new RequestRefusedException(StatusCodes.Status413PayloadTooLarge,
                $"the image is {declared.Width}x{declared.Height} pixels; this server accepts at most {settings.MaxPixels} (--max-pixels)");
        }
        float[] input;
        try
        {
            input = Preprocessing.FromEncoded(encoded, "the uploaded image", served.Preprocessing, served.Model.Schema.Shape);
        }
        catch (ImageFormatException error)
        {
            throw new RequestRefusedException(StatusCodes.Status422UnprocessableEntity, error.Message);
        }
        float[] probabilities = (await Predict(model, [input]).ConfigureAwait(false))[0];
        var ranked = ClassRanking.Rank(probabilities, served.Model.Schema.ClassNames);
        var shape = served.Model.Schema.Shape;
        return new
        {
            Model = served.Name,
            Preprocess = Preprocessing.Name(served.Preprocessing),
            ranked[0].ClassName,
            ranked[0].ClassIndex,
            ranked[0].Probability,
            Top = ranked.Take(top).ToArray(),
            Probabilities = probabilities,
            Input = new
            {
                Shape = new[] { shape.Channels, shape.Height, shape.Width },
                Png = Convert.ToBase64String(InputImage.ToPng(input, shape)),
            },
        };
    }

    private static int TopCount(HttpRequest request, int classes)
    {
        string? text = request.Query["top"].FirstOrDefault();
        if (text is null)
            return Math.Min(3, classes);
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int top) || top < 1 || top > classes)
            throw new RequestRefusedException(StatusCodes.Status400BadRequest, $"top must be in 1..{classes}, the model's classes (got '{text}')");
        return top;
    }

    /// <summary>The image bytes: the multipart form field "file", or the whole body.</summary>
    private static async Task<byte[]> ReadImage(HttpRequest request)
    {
        Stream source;
        // Only a multipart form is unpacked; any other body (whatever its Content-Type: curl's
        // --data-binary says application/x-www-form-urlencoded) is the image itself.
        if (request.HasFormContentType && request.ContentType!.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            IFormCollection form;
            try
            {
                form = await request.ReadFormAsync().ConfigureAwait(false);
            }
            catch (InvalidDataException error)
            {
                throw new RequestRefusedException(StatusCodes.Status400BadRequest, $"malformed multipart form: {error.Message}");
            }
            var file = form.Files.GetFile("file")
                ?? throw new RequestRefusedException(StatusCodes.Status400BadRequest, "the form has no file field named 'file'");
            source = file.OpenReadStream();
        }
        else
        {
            source = request.Body;
        }
        using var copy = new MemoryStream();
        await source.CopyToAsync(copy).ConfigureAwait(false);
        if (copy.Length == 0)
            throw new RequestRefusedException(StatusCodes.Status400BadRequest, "the request holds no image: send a PNG, JPEG, WebP, GIF or BMP as the body or as the form field 'file'");
        return copy.ToArray();
    }

    private Task<float[][]> Predict(int model, IReadOnlyList<float[]> rows) => batchers[model].Predict(rows);

    /// <summary>POST /v2/models/{name}/infer: one input "input" of datatype FP32 and shape
    /// [N, C*H*W] or [N, C, H, W], data flat or nested in row-major order; answers the output
    /// "probabilities" [N, classes].</summary>
    private async Task<object> Infer(HttpContext context, int model)
    {
        var served = models[model];
        var request = await KServeRequest.ReadAsync(context.Request.Body, served).ConfigureAwait(false);
        float[][] outputs = await Predict(model, request.Rows).ConfigureAwait(false);
        var data = new float[outputs.Length * served.Classes];
        for (int i = 0; i < outputs.Length; i++)
            outputs[i].CopyTo(data, i * served.Classes);
        return new
        {
            ModelName = served.Name,
            ModelVersion,
            request.Id,
            Outputs = new[] { new { Name = OutputName, Datatype = "FP32", Shape = new long[] { outputs.Length, served.Classes }, Data = data } },
        };
    }
}
