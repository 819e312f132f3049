using System.CommandLine;
using System.Globalization;
using System.Net;
using GpuMlp.Imaging;
using Spectre.Console;

namespace GpuMlp.Cli.Serve;

/// <summary>`gpumlp serve`: every --model loaded once onto the device and served over HTTP (the
/// draw-a-digit page, POST /predict and KServe v2) until SIGTERM or Ctrl-C, which drain in-flight
/// requests and exit 0.</summary>
public static class ServeCommand
{
    public const string ApiKeyVariable = "GPUMLP_API_KEY";

    public static Command Create()
    {
        var models = new Option<string[]>("--model")
        {
            Description = "A run folder or .safetensors file to serve, as RUN (named after its folder or file) or NAME=RUN; repeat for several models (the first answers POST /predict)",
            Required = true,
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var port = new Option<int>("--port") { Description = $"TCP port (0: any free port, printed); default {ServeSettings.DefaultPort}", DefaultValueFactory = _ => ServeSettings.DefaultPort };
        var host = new Option<string>("--host") { Description = "Address to listen on: 127.0.0.1 (this machine only, the default), ::1, 0.0.0.0 (every interface) or another IP address", DefaultValueFactory = _ => "127.0.0.1" };
        var maxBatch = new Option<int>("--max-batch") { Description = $"Most images one forward pass takes: concurrent requests are batched on the device (1: no batching); default {ServeSettings.DefaultMaxBatch}", DefaultValueFactory = _ => ServeSettings.DefaultMaxBatch };
        var maxWait = new Option<double>("--max-wait-ms") { Description = $"Longest a request waits for others to fill its batch, in milliseconds; default {ServeSettings.DefaultMaxWaitMs.ToString(CultureInfo.InvariantCulture)}", DefaultValueFactory = _ => ServeSettings.DefaultMaxWaitMs };
        var queue = new Option<int>("--queue") { Description = $"Requests that may wait per model; more are answered 503 (busy); default {ServeSettings.DefaultQueue}", DefaultValueFactory = _ => ServeSettings.DefaultQueue };
        var maxBody = new Option<long>("--max-body-bytes") { Description = $"Largest request body accepted (413 above); default {ServeSettings.DefaultMaxBodyBytes} (4 MiB)", DefaultValueFactory = _ => ServeSettings.DefaultMaxBodyBytes };
        var maxPixels = new Option<long>("--max-pixels") { Description = $"Largest image accepted, in pixels as its header declares them (413 above, before decoding); default {ServeSettings.DefaultMaxPixels}", DefaultValueFactory = _ => ServeSettings.DefaultMaxPixels };
        var apiKey = new Option<string?>("--api-key") { Description = $"Require this key on every API request (header X-API-Key or Authorization: Bearer); default: {ApiKeyVariable}, else none" };
        var command = new Command("serve", "Serve trained models over HTTP: a draw-a-digit page, POST /predict (an image) and KServe v2 inference, batched on the device")
        {
            models, CommonOptions.Device, CommonOptions.CpuSimd, host, port, maxBatch, maxWait, queue, maxBody, maxPixels, apiKey,
        };
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            string? key = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable(ApiKeyVariable);
            var settings = new ServeSettings
            {
                Host = ServeSettings.ParseHost(parse.GetValue(host)!),
                Port = parse.GetValue(port),
                MaxBatch = parse.GetValue(maxBatch),
                MaxWaitMs = parse.GetValue(maxWait),
                QueueCapacity = parse.GetValue(queue),
                MaxBodyBytes = parse.GetValue(maxBody),
                MaxPixels = parse.GetValue(maxPixels),
                ApiKey = string.IsNullOrEmpty(key) ? null : key,
            };
            settings.Validate();
            var request = CommonOptions.ParseDevice(parse.GetValue(CommonOptions.Device)!);
            var simd = CommonOptions.ParseCpuSimd(parse);
            var served = ServedModel.LoadAll(parse.GetValue(models) ?? []);
            return Serve(settings, served, request, simd);
        }));
        return command;
    }

    private static int Serve(ServeSettings settings, IReadOnlyList<ServedModel> served, Compute.DeviceRequest request, Compute.CpuSimdRequest simd)
    {
        var server = ModelServer.Create(settings, served, request, simd);
        try
        {
            Uri address;
            try
            {
                address = server.StartAsync().GetAwaiter().GetResult();
            }
            catch (IOException error)
            {
                // Kestrel's bind failure (the port is taken, or the address is not this machine's).
                throw new OptionException($"cannot listen on {Endpoint(settings)}: {error.Message.TrimEnd('.')}; choose another --port or --host");
            }
            AnsiConsole.MarkupLineInterpolated($"device [bold]{server.DeviceDescription}[/]");
            foreach (var model in served)
            {
                Output.Info($"model {model.Name}: {model.Model.Name}, {model.Model.Schema.Shape} images, {model.Classes} classes, {Preprocessing.Name(model.Preprocessing)} preprocessing ({model.Model.Path})");
            }
            Output.Info(string.Create(CultureInfo.InvariantCulture,
                $"batching up to {settings.MaxBatch} images, waiting at most {settings.MaxWaitMs} ms; queue {settings.QueueCapacity}; body limit {settings.MaxBodyBytes} bytes; {settings.MaxPixels} pixels; API key {(settings.ApiKey is null ? "off" : "required")}"));
            if (!IPAddress.IsLoopback(settings.Host))
                Output.Info($"listening on {settings.Host}: reachable from other machines{(settings.ApiKey is null ? ", with no API key" : "")}");
            // One plain line scripts can wait for and read the port from.
            Console.WriteLine($"listening on {address.GetLeftPart(UriPartial.Authority)} (Ctrl-C or SIGTERM stops)");
            server.WaitForShutdownAsync().GetAwaiter().GetResult();
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        var counts = server.BatchCounts;
        string passes = string.Join("; ", served.Select((model, i) => string.Create(CultureInfo.InvariantCulture,
            $"{model.Name} {counts[i].Rows} images in {counts[i].Batches} passes (mean batch {(counts[i].Batches == 0 ? 0 : (double)counts[i].Rows / counts[i].Batches):F2})")));
        Console.WriteLine($"stopped: every request answered; {passes}");
        return ExitCodes.Success;
    }

    private static string Endpoint(ServeSettings settings) =>
        new IPEndPoint(settings.Host, settings.Port).ToString();
}
