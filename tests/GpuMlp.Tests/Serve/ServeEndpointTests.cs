using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using GpuMlp.Cli.Serve;
using GpuMlp.Data;
using GpuMlp.Imaging;
using GpuMlp.Tests.Cli;
using SkiaSharp;

namespace GpuMlp.Tests.Serve;

/// <summary>`serve` through a real Kestrel server on a free loopback port: the image endpoint
/// against `predict`, KServe v2 inference and metadata, several models by name, dynamic batching,
/// the bounded queue, the API key, and every bad request answered as a 4xx with a JSON error.</summary>
[Collection(ServeCollection.Name)]
public sealed class ServeEndpointTests(ServeFixture fixture)
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PredictImage_RawBodyOrMultipartField_AnswersWhatPredictPrints()
    {
        var cli = CliProcess.Run(TimeSpan.FromMinutes(2), ["predict", "--model", fixture.DigitsPath, "--device", TestDevice.RequestedName, "--json", .. fixture.DigitPngs]);
        Assert.True(cli.ExitCode == 0, cli.StandardError);
        using var printed = JsonDocument.Parse(cli.StandardOutput);
        var predictions = printed.RootElement.GetProperty("predictions");
        await using var server = await fixture.StartAsync();
        for (int i = 0; i < 6; i++)
        {
            byte[] png = await File.ReadAllBytesAsync(fixture.DigitPngs[i], Cancel);
            var (status, raw) = await server.PredictAsync(png);
            Assert.Equal(200, status);
            using var form = new MultipartFormDataContent();
            var file = new ByteArrayContent(png);
            file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            form.Add(file, "file", "digit.png");
            using var response = await server.Client.PostAsync("/predict/digits", form, Cancel);
            var multipart = await RunningServer.ReadJson(response);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var expected = predictions[i];
            foreach (var answer in new[] { raw, multipart })
            {
                Assert.Equal(expected.GetProperty("class_name").GetString(), answer.GetProperty("class_name").GetString());
                Assert.Equal(expected.GetProperty("probability").GetSingle(), answer.GetProperty("probability").GetSingle());
                Assert.Equal(Top(expected), Top(answer));
            }
        }
    }

    [Fact]
    public async Task PredictImage_Answer_HoldsTopThreeByNameAndTheInputTheModelSaw()
    {
        await using var server = await fixture.StartAsync();
        var (status, answer) = await server.PredictAsync(await File.ReadAllBytesAsync(fixture.DigitPngs[0], Cancel), "digits", "?top=5");
        Assert.Equal(200, status);
        Assert.Equal("digits", answer.GetProperty("model").GetString());
        Assert.Equal("mnist-digit", answer.GetProperty("preprocess").GetString());
        var top = answer.GetProperty("top").EnumerateArray().ToArray();
        Assert.Equal(5, top.Length);
        Assert.Equal(top.Select(t => t.GetProperty("probability").GetSingle()).OrderByDescending(p => p), top.Select(t => t.GetProperty("probability").GetSingle()));
        Assert.All(top, t => Assert.Equal(t.GetProperty("class_index").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture), t.GetProperty("class_name").GetString()));
        Assert.Equal(10, answer.GetProperty("probabilities").GetArrayLength());
        var input = answer.GetProperty("input");
        Assert.Equal([1, 28, 28], input.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()));
        using var bitmap = SKBitmap.Decode(Convert.FromBase64String(input.GetProperty("png").GetString()!));
        Assert.Equal((28, 28), (bitmap.Width, bitmap.Height));
        var expected = Preprocessing.Load(fixture.DigitPngs[0], ImagePreprocessing.MnistDigit, MnistDataset.Shape);
        for (int y = 0; y < 28; y++)
        {
            for (int x = 0; x < 28; x++)
                Assert.Equal((byte)Math.Round(expected[(y * 28) + x] * 255f), bitmap.GetPixel(x, y).Red);
        }
        // Without ?top, three classes.
        (_, answer) = await server.PredictAsync(await File.ReadAllBytesAsync(fixture.DigitPngs[1], Cancel));
        Assert.Equal(3, answer.GetProperty("top").GetArrayLength());
    }

    [Fact]
    public async Task NamedModels_ImageAndV2_EachAnswersWithItsOwnShapeAndClassNames()
    {
        await using var server = await fixture.StartAsync();
        float[] image = fixture.CompassImages[0];
        var shape = new ImageShape(3, 8, 8);
        var (status, answer) = await server.PredictAsync(InputImage.ToPng(image, shape), "compass");
        Assert.Equal(200, status);
        Assert.Equal("resize", answer.GetProperty("preprocess").GetString());
        Assert.Contains(answer.GetProperty("class_name").GetString(), new[] { "north", "east", "south", "west" });
        var (v2Status, v2) = await server.InferAsync("compass", RunningServer.V2Body([1, 3, 8, 8], image));
        Assert.Equal(200, v2Status);
        Assert.Equal(answer.GetProperty("probabilities").EnumerateArray().Select(v => v.GetSingle()), RunningServer.Rows(v2, 4)[0]);
        Assert.Equal("compass", v2.GetProperty("model_name").GetString());
        // /predict without a name is the first model's.
        (status, answer) = await server.PredictAsync(await File.ReadAllBytesAsync(fixture.DigitPngs[0], Cancel));
        Assert.Equal("digits", answer.GetProperty("model").GetString());
    }

    [Fact]
    public async Task V2Infer_FlatOrNestedData_GiveTheSameProbabilitiesPerRow()
    {
        await using var server = await fixture.StartAsync();
        var rows = fixture.DigitPngs.Take(3).Select(p => Preprocessing.Load(p, ImagePreprocessing.MnistDigit, MnistDataset.Shape)).ToArray();
        var (status, flat) = await server.InferAsync("digits", new { id = "req-7", inputs = new[] { new { name = "input", shape = new long[] { 3, 784 }, datatype = "FP32", data = rows.SelectMany(r => r).ToArray() } }, outputs = new[] { new { name = "probabilities" } } });
        Assert.Equal(200, status);
        Assert.Equal("req-7", flat.GetProperty("id").GetString());
        Assert.Equal("1", flat.GetProperty("model_version").GetString());
        var output = flat.GetProperty("outputs")[0];
        Assert.Equal("probabilities", output.GetProperty("name").GetString());
        Assert.Equal("FP32", output.GetProperty("datatype").GetString());
        Assert.Equal([3, 10], output.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()));
        var nested = rows.Select(r => new[] { r.Chunk(28).ToArray() }).ToArray();
        var (nestedStatus, planes) = await server.InferAsync("digits", RunningServer.V2Body([3, 1, 28, 28], nested));
        Assert.Equal(200, nestedStatus);
        Assert.Equal(RunningServer.Rows(flat, 10), RunningServer.Rows(planes, 10));
        using var content = JsonContent.Create(RunningServer.V2Body([1, 784], rows[0]));
        using var versioned = await server.Client.PostAsync("/v2/models/digits/versions/1/infer", content, Cancel);
        Assert.Equal(RunningServer.Rows(flat, 10)[0], RunningServer.Rows(await RunningServer.ReadJson(versioned), 10)[0]);
    }

    [Fact]
    public async Task V2MetadataAndHealth_EveryEndpoint_AnswersAsKServeSays()
    {
        await using var server = await fixture.StartAsync();
        async Task<JsonElement> Get(string path)
        {
            using var response = await server.Client.GetAsync(path, Cancel);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode}");
            return await RunningServer.ReadJson(response);
        }
        Assert.Equal("gpumlp", (await Get("/v2")).GetProperty("name").GetString());
        Assert.True((await Get("/v2/health/live")).GetProperty("live").GetBoolean());
        Assert.True((await Get("/v2/health/ready")).GetProperty("ready").GetBoolean());
        Assert.True((await Get("/v2/models/digits/ready")).GetProperty("ready").GetBoolean());
        var digits = await Get("/v2/models/digits");
        Assert.Equal("digits", digits.GetProperty("name").GetString());
        Assert.Equal([-1, 784], digits.GetProperty("inputs")[0].GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()));
        Assert.Equal("FP32", digits.GetProperty("inputs")[0].GetProperty("datatype").GetString());
        Assert.Equal([-1, 10], digits.GetProperty("outputs")[0].GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), digits.GetProperty("parameters").GetProperty("class_names").EnumerateArray().Select(v => v.GetString()));
        var compass = await Get("/v2/models/compass");
        Assert.Equal([-1, 3, 8, 8], compass.GetProperty("inputs")[0].GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()));
        Assert.Equal(["north", "east", "south", "west"], compass.GetProperty("parameters").GetProperty("class_names").EnumerateArray().Select(v => v.GetString()));
        var listed = await Get("/models");
        Assert.Equal(["digits", "compass"], listed.GetProperty("models").EnumerateArray().Select(m => m.GetProperty("name").GetString()));
        using var page = await server.Client.GetAsync("/", Cancel);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<canvas id=\"pad\"", await page.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadRequests_EveryKind_AnswerA4xxWithAJsonError()
    {
        await using var server = await fixture.StartAsync(new ServeSettings { MaxBodyBytes = 64 * 1024 });
        var zeros = new float[784];
        var cases = new List<(string What, Func<Task<HttpResponseMessage>> Send, int Status, string Says)>
        {
            ("malformed JSON", () => PostText("/v2/models/digits/infer", "{\"inputs\": [", "application/json"), 400, "malformed JSON"),
            ("not an object", () => PostText("/v2/models/digits/infer", "[1, 2]", "application/json"), 400, "JSON object"),
            ("no inputs", () => PostJson("/v2/models/digits/infer", new { outputs = Array.Empty<object>() }), 400, "\"inputs\""),
            ("two inputs", () => PostJson("/v2/models/digits/infer", new { inputs = new[] { new { name = "input" }, new { name = "input" } } }), 400, "one input"),
            ("wrong datatype", () => PostJson("/v2/models/digits/infer", RunningServer.V2Body([1, 784], zeros, datatype: "INT32")), 400, "FP32"),
            ("wrong shape", () => PostJson("/v2/models/digits/infer", RunningServer.V2Body([1, 100], zeros)), 400, "[N, 784] or [N, 1, 28, 28]"),
            ("zero rows", () => PostJson("/v2/models/digits/infer", RunningServer.V2Body([0, 784], Array.Empty<float>())), 400, "N at least 1"),
            ("too few values", () => PostJson("/v2/models/digits/infer", RunningServer.V2Body([2, 784], zeros)), 400, "784 values"),
            ("not numbers", () => PostJson("/v2/models/digits/infer", RunningServer.V2Body([1, 784], Enumerable.Repeat("x", 784).ToArray())), 400, "finite FP32"),
            ("unknown input", () => PostJson("/v2/models/digits/infer", RunningServer.V2Body([1, 784], zeros, name: "pixels")), 400, "\"pixels\""),
            ("unknown output", () => PostJson("/v2/models/digits/infer", new { inputs = new[] { new { name = "input", shape = new long[] { 1, 784 }, datatype = "FP32", data = zeros } }, outputs = new[] { new { name = "logits" } } }), 400, "\"logits\""),
            ("unknown model (infer)", () => PostJson("/v2/models/nope/infer", RunningServer.V2Body([1, 784], zeros)), 404, "unknown model 'nope'"),
            ("unknown model (metadata)", () => server.Client.GetAsync("/v2/models/nope", Cancel), 404, "digits, compass"),
            ("unknown version", () => PostJson("/v2/models/digits/versions/2/infer", RunningServer.V2Body([1, 784], zeros)), 404, "version"),
            ("unknown model (image)", () => PostBytes("/predict/nope", [1, 2, 3], "image/png"), 404, "unknown model"),
            ("empty image body", () => PostBytes("/predict", [], "image/png"), 400, "no image"),
            ("not an image", () => PostBytes("/predict", Encoding.UTF8.GetBytes("hello, not a picture"), "image/png"), 415, "not a PNG"),
            ("blank image", () => PostBytes("/predict", Blank(), "image/png"), 422, "no digit"),
            ("bad top", () => PostBytes("/predict?top=0", Blank(), "image/png"), 400, "top must be in 1..10"),
            ("form without file", () => PostForm("/predict", "picture"), 400, "'file'"),
            ("url-encoded text", () => PostText("/predict", "file=abc", "application/x-www-form-urlencoded"), 415, "not a PNG"),
            // A client sending a body the server refuses unread should ask first (Expect: 100-continue,
            // as curl does for large bodies): otherwise the server's close may reset the connection
            // before the client reads the 413.
            ("body over the limit", () => PostExpecting("/predict", new ByteArrayContent(new byte[100 * 1024])), 413, "--max-body-bytes"),
            ("v2 body over the limit", () => PostExpecting("/v2/models/digits/infer", new StringContent(new string(' ', 100 * 1024), Encoding.UTF8, "application/json")), 413, "--max-body-bytes"),
            ("unknown endpoint", () => server.Client.GetAsync("/admin", Cancel), 404, "no such endpoint"),
            ("a path, not a name", () => PostBytes("/predict/..%2F..%2Fetc%2Fpasswd", Blank(), "image/png"), 404, "unknown model '..%2F..%2Fetc%2Fpasswd'"),
            ("a path, not a name (v2)", () => server.Client.GetAsync("/v2/models/%2Fetc%2Fpasswd", Cancel), 404, "unknown model"),
            ("a method the route does not take", () => server.Client.GetAsync("/predict", Cancel), 404, "no such endpoint: GET /predict"),
        };
        foreach (var (what, send, status, says) in cases)
        {
            HttpResponseMessage sent;
            try
            {
                sent = await send();
            }
            catch (HttpRequestException failure)
            {
                Assert.Fail($"{what}: {failure.Message} {failure.InnerException?.Message}");
                throw;
            }
            using var response = sent;
            string body = await response.Content.ReadAsStringAsync(Cancel);
            Assert.True((int)response.StatusCode == status, $"{what}: expected {status}, got {(int)response.StatusCode}: {body}");
            Assert.True(response.Content.Headers.ContentType?.MediaType == "application/json", $"{what}: answered {response.Content.Headers.ContentType}: {body}");
            using var json = JsonDocument.Parse(body);
            string error = json.RootElement.GetProperty("error").GetString()!;
            Assert.True(error.Contains(says, StringComparison.Ordinal), $"{what}: the error '{error}' does not say '{says}'");
            Assert.DoesNotContain('\n', error);
        }

        Task<HttpResponseMessage> PostJson(string path, object body) => server.Client.PostAsJsonAsync(path, body, Cancel);
        Task<HttpResponseMessage> PostText(string path, string text, string type) => server.Client.PostAsync(path, new StringContent(text, Encoding.UTF8, type), Cancel);
        Task<HttpResponseMessage> PostBytes(string path, byte[] bytes, string type)
        {
            var content = new ByteArrayContent(bytes);
            content.Headers.ContentType = new MediaTypeHeaderValue(type);
            return server.Client.PostAsync(path, content, Cancel);
        }
        Task<HttpResponseMessage> PostExpecting(string path, HttpContent content)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
            request.Headers.ExpectContinue = true;
            return server.Client.SendAsync(request, Cancel);
        }
        Task<HttpResponseMessage> PostForm(string path, string field)
        {
            var form = new MultipartFormDataContent { { new ByteArrayContent(Blank()), field, "x.png" } };
            return server.Client.PostAsync(path, form, Cancel);
        }
    }

    [Fact]
    public async Task PredictImage_TinyPngDeclaring50000x50000_Is413InMilliseconds()
    {
        await using var server = await fixture.StartAsync();
        byte[] bomb = HugePng.Declaring(50_000, 50_000);
        Assert.True(bomb.Length < 200, $"the file is {bomb.Length} bytes");
        var clock = Stopwatch.StartNew();
        var (status, answer) = await server.PredictAsync(bomb);
        clock.Stop();
        Assert.Equal(413, status);
        Assert.Contains("50000x50000", answer.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.True(clock.ElapsedMilliseconds < 2000, $"refused after {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task Batching_ConcurrentRequests_SameProbabilitiesBitForBitAsOneByOne()
    {
        await using var server = await fixture.StartAsync(new ServeSettings { MaxBatch = 8, MaxWaitMs = 20 });
        var rows = fixture.DigitPngs.Select(p => Preprocessing.Load(p, ImagePreprocessing.MnistDigit, MnistDataset.Shape)).ToArray();
        var alone = new List<float[]>();
        foreach (var row in rows)
        {
            var (status, answer) = await server.InferAsync("digits", RunningServer.V2Body([1, 784], row));
            Assert.Equal(200, status);
            alone.Add(RunningServer.Rows(answer, 10)[0]);
        }
        Assert.Equal((rows.Length, (long)rows.Length), server.Server.BatchCounts[0]);

        // Hold the device so every request is queued before the first pass runs: batches must form.
        server.Server.Device.Gate.Reset();
        var concurrent = rows.Select(row => server.InferAsync("digits", RunningServer.V2Body([1, 784], row))).ToArray();
        await WaitUntil(() => server.Server.Queued[0] >= rows.Length - 8);
        server.Server.Device.Gate.Set();
        var answers = await Task.WhenAll(concurrent);
        Assert.All(answers, a => Assert.Equal(200, a.Status));
        var (batches, batchedRows) = server.Server.BatchCounts[0];
        Assert.Equal(2L * rows.Length, batchedRows);
        Assert.True(batches - rows.Length <= 4, $"{batches - rows.Length} passes for {rows.Length} concurrent requests: not batched (at most 8 per pass)");
        for (int i = 0; i < rows.Length; i++)
            Assert.Equal(alone[i], RunningServer.Rows(answers[i].Json, 10)[0]);
    }

    [Fact]
    public async Task Queue_Full_Answers503AndAnswersEveryAcceptedRequest()
    {
        await using var server = await fixture.StartAsync(new ServeSettings { MaxBatch = 1, MaxWaitMs = 0, QueueCapacity = 4 });
        var row = Preprocessing.Load(fixture.DigitPngs[0], ImagePreprocessing.MnistDigit, MnistDataset.Shape);
        server.Server.Device.Gate.Reset();
        var first = server.InferAsync("digits", RunningServer.V2Body([1, 784], row));
        await WaitUntil(() => server.Server.Queued[0] == 0 && server.Server.BatchCounts[0].Batches == 0 && !first.IsCompleted);
        var more = Enumerable.Range(0, 12).Select(_ => server.InferAsync("digits", RunningServer.V2Body([1, 784], row))).ToList();
        await WaitUntil(() => more.Count(t => t.IsCompleted) >= 7);
        server.Server.Device.Gate.Set();
        var answers = await Task.WhenAll(more.Prepend(first));
        Assert.Equal(13, answers.Length);
        var refused = answers.Where(a => a.Status == 503).ToArray();
        Assert.True(refused.Length >= 7, $"{refused.Length} of 13 refused with a queue of 4 and one pass held");
        Assert.All(refused, a => Assert.Contains("queue is full", a.Json.GetProperty("error").GetString(), StringComparison.Ordinal));
        Assert.All(answers.Where(a => a.Status != 503), a => Assert.Equal(200, a.Status));
        Assert.Equal(13 - refused.Length, server.Server.BatchCounts[0].Batches);
    }

    [Fact]
    public async Task ApiKey_Set_RequiredOnTheApiButNotThePageOrProbes()
    {
        const string key = "correct horse battery staple";
        await using var server = await fixture.StartAsync(new ServeSettings { ApiKey = key });
        byte[] png = await File.ReadAllBytesAsync(fixture.DigitPngs[0], Cancel);
        async Task<HttpStatusCode> Send(string path, Action<HttpRequestHeaders> headers, byte[]? body = null)
        {
            using var request = new HttpRequestMessage(body is null ? HttpMethod.Get : HttpMethod.Post, path);
            if (body is not null)
                request.Content = new ByteArrayContent(body);
            headers(request.Headers);
            using var response = await server.Client.SendAsync(request, Cancel);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
                Assert.Contains("API key", (await RunningServer.ReadJson(response)).GetProperty("error").GetString(), StringComparison.Ordinal);
            return response.StatusCode;
        }
        Assert.Equal(HttpStatusCode.Unauthorized, await Send("/predict", _ => { }, png));
        Assert.Equal(HttpStatusCode.Unauthorized, await Send("/predict", h => h.Add("X-API-Key", key + "x"), png));
        Assert.Equal(HttpStatusCode.Unauthorized, await Send("/predict", h => h.Add("X-API-Key", key[..^1]), png));
        Assert.Equal(HttpStatusCode.Unauthorized, await Send("/v2/models/digits", h => h.Authorization = new AuthenticationHeaderValue("Bearer", "wrong")));
        Assert.Equal(HttpStatusCode.Unauthorized, await Send("/models", _ => { }));
        Assert.Equal(HttpStatusCode.OK, await Send("/predict", h => h.Add("X-API-Key", key), png));
        Assert.Equal(HttpStatusCode.OK, await Send("/v2/models/digits", h => h.Authorization = new AuthenticationHeaderValue("Bearer", key)));
        Assert.Equal(HttpStatusCode.OK, await Send("/", _ => { }));
        Assert.Equal(HttpStatusCode.OK, await Send("/v2/health/live", _ => { }));
        Assert.Equal(HttpStatusCode.OK, await Send("/v2/health/ready", _ => { }));
    }

    private static byte[] Blank()
    {
        using var bitmap = new SKBitmap(40, 40);
        bitmap.Erase(SKColors.White);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private static float[] Top(JsonElement prediction) =>
        [.. prediction.GetProperty("top").EnumerateArray().Select(t => t.GetProperty("probability").GetSingle())];

    private static async Task WaitUntil(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "timed out waiting for the server's queue");
            await Task.Delay(5, Cancel);
        }
    }
}

/// <summary>A valid, tiny PNG whose header declares a huge image: the signature, an IHDR chunk of
/// <c>width</c> x <c>height</c> 8-bit gray, one small IDAT and IEND, each with its CRC-32.</summary>
public static class HugePng
{
    public static byte[] Declaring(int width, int height)
    {
        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth; colour type 0 (gray), deflate, no filter, no interlace
        Chunk(png, "IHDR", header);
        Chunk(png, "IDAT", [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]);
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        var length = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        png.Write(length);
        byte[] typed = [.. Encoding.ASCII.GetBytes(type), .. data];
        png.Write(typed);
        var crc = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        png.Write(crc);
    }

    private static uint Crc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }
}
