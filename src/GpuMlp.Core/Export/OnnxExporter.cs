using System.Buffers.Binary;
using System.Reflection;
using Google.Protobuf;
using GpuMlp.Export.Onnx;
using GpuMlp.Runs;

namespace GpuMlp.Export;

/// <summary>
/// Writes a <see cref="NetworkDescription"/> as an ONNX model (IR version 7, default operator set
/// version 13) that ONNX Runtime, PyTorch's onnx tools and other ONNX readers load:
/// <list type="bullet">
/// <item>input <c>input</c>: float32 [batch, ...sample shape], the batch a symbolic dimension named
/// <c>batch</c>;</item>
/// <item>output <c>logits</c>: float32 [batch, classes], the last layer's output;</item>
/// <item>output <c>probabilities</c>: float32 [batch, classes], Softmax of the logits over the classes;</item>
/// <item>initializers: the trained tensors, float32 little-endian in raw_data, bit-for-bit the trained
/// values, under the layer descriptions' names.</item>
/// </list>
/// Dense is Gemm(x, W, b, transB = 1) (W stays [out, in] as trained), Conv2d is Conv (W [O, C, KH, KW],
/// pads, stride 1), MaxPool2 is MaxPool (2x2, stride 2), Flatten is Flatten (axis 1), Relu is Relu,
/// Dropout adds no node (the identity at inference), BatchNorm is BatchNormalization in inference mode
/// (the running statistics as its mean and var inputs, epsilon as trained). The messages are the ONNX specification's (Export/onnx.proto,
/// compiled by protoc), serialised by Google.Protobuf.
/// </summary>
public static class OnnxExporter
{
    /// <summary>The IR version written (IR_VERSION_2020_5_8, the first that pairs with opset 13).</summary>
    public const long IrVersion = 7;

    /// <summary>The version of the default ONNX operator set ("ai.onnx") the nodes use.</summary>
    public const long OpsetVersion = 13;

    public const string InputName = "input";
    public const string LogitsName = "logits";
    public const string ProbabilitiesName = "probabilities";

    /// <summary>The symbolic name of the batch dimension of the input and the outputs.</summary>
    public const string BatchDimension = "batch";

    public const string ProducerName = "gpumlp";

    /// <summary>The ONNX model as bytes; the same network and metadata always give the same bytes.</summary>
    /// <param name="network">The layers; the last one's output are the logits.</param>
    /// <param name="metadata">Written as the model's metadata_props (in key order); may be null.</param>
    /// <exception cref="ArgumentException">The layers do not fit together (a Dense layer's inputs differ
    /// from what the previous layer produces, a tensor has the wrong length), or there are none.</exception>
    public static byte[] Serialize(NetworkDescription network, IReadOnlyDictionary<string, string>? metadata = null) =>
        Build(network, metadata).ToByteArray();

    /// <summary>Writes the model to <paramref name="path"/> atomically (temporary file, flush, rename),
    /// so a failure leaves no partial file. With <paramref name="replace"/> false an existing file is
    /// never replaced: an <see cref="IOException"/> says it exists and nothing is written.</summary>
    /// <exception cref="ArgumentException">As for <see cref="Serialize"/>.</exception>
    public static void Write(string path, NetworkDescription network, IReadOnlyDictionary<string, string>? metadata, bool replace)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes = Serialize(network, metadata);
        if (replace)
        {
            AtomicFile.WriteAllBytes(path, bytes);
        }
        else
        {
            AtomicFile.WriteNew(path, stream => stream.Write(bytes));
        }
    }

    /// <summary>The ONNX ModelProto of <paramref name="network"/> (see the class summary).</summary>
    internal static ModelProto Build(NetworkDescription network, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (network.SampleShape.Count == 0 || network.SampleShape.Any(d => d < 1))
        {
            throw new ArgumentException($"the sample shape [{string.Join(", ", network.SampleShape)}] needs one or more positive dimensions", nameof(network));
        }

        var graph = new GraphBuilder(network.SampleShape);
        for (int index = 0; index < network.Layers.Count; index++)
        {
            // The one place that maps layer kinds to ONNX operators.
            switch (network.Layers[index])
            {
                case LayerDescription.Dense dense:
                    graph.AddDense(index, dense);
                    break;
                case LayerDescription.Conv2d conv:
                    graph.AddConv(index, conv);
                    break;
                case LayerDescription.MaxPool2:
                    graph.AddMaxPool2(index);
                    break;
                case LayerDescription.Flatten:
                    graph.AddFlatten(index);
                    break;
                case LayerDescription.Relu:
                    graph.AddElementwise(index, "Relu");
                    break;
                case LayerDescription.Dropout:
                    // Inference is the identity: no node.
                    break;
                case LayerDescription.BatchNorm batchNorm:
                    graph.AddBatchNorm(index, batchNorm);
                    break;
                case var other:
                    throw new ArgumentException($"layer {index} ({other.GetType().Name}) has no ONNX mapping", nameof(network));
            }
        }

        GraphProto proto = graph.Finish(network.InputDescription);
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = ProducerName,
            ProducerVersion = ProducerVersion(),
            Domain = "gpumlp",
            ModelVersion = 1,
            DocString = "A network trained by GpuMlp. Output logits: the last layer; probabilities: Softmax of the logits over the classes.",
            Graph = proto,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OpsetVersion });
        if (metadata is not null)
        {
            foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
            }
        }
        return model;
    }

    /// <summary>The library's version, without the source revision ("0.1.0").</summary>
    private static string ProducerVersion()
    {
        string version = typeof(OnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
        int plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? version : version[..plus];
    }

    /// <summary>Builds the graph node by node, tracking the current tensor's name and per-sample shape
    /// so that each layer can check what it receives.</summary>
    private sealed class GraphBuilder
    {
        private readonly GraphProto graph = new() { Name = "gpumlp" };
        private readonly IReadOnlyList<int> inputShape;
        private string current = InputName;
        private List<int> sampleShape;
        private NodeProto? lastNode;

        public GraphBuilder(IReadOnlyList<int> inputShape)
        {
            this.inputShape = inputShape;
            sampleShape = [.. inputShape];
        }

        /// <summary>Gemm(x [N, in], W [out, in], b [out], transB = 1) = x·Wᵀ + b, [N, out].</summary>
        public void AddDense(int index, LayerDescription.Dense dense)
        {
            if (sampleShape.Count != 1 || sampleShape[0] != dense.Inputs)
            {
                throw new ArgumentException(
                    $"layer {index} (dense {dense.WeightName}) takes [batch, {dense.Inputs}] but receives [batch, {string.Join(", ", sampleShape)}]");
            }

            graph.Initializer.Add(FloatTensor(dense.WeightName, [dense.Outputs, dense.Inputs], dense.Weight));
            graph.Initializer.Add(FloatTensor(dense.BiasName, [dense.Outputs], dense.Bias));
            var node = Node(index, "Gemm", [current, dense.WeightName, dense.BiasName]);
            node.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
            sampleShape = [dense.Outputs];
        }

        /// <summary>Conv(x [N, C, H, W], W [O, C, KH, KW], b [O], pads = P on all sides, stride 1).</summary>
        public void AddConv(int index, LayerDescription.Conv2d conv)
        {
            if (sampleShape.Count != 3 || sampleShape[0] != conv.InChannels)
            {
                throw new ArgumentException(
                    $"layer {index} (conv {conv.WeightName}) takes [batch, {conv.InChannels}, H, W] but receives [batch, {string.Join(", ", sampleShape)}]");
            }
            int outH = sampleShape[1] + (2 * conv.Padding) - conv.KernelH + 1, outW = sampleShape[2] + (2 * conv.Padding) - conv.KernelW + 1;
            if (outH < 1 || outW < 1)
                throw new ArgumentException($"layer {index} (conv {conv.WeightName}): the kernel does not fit its input");
            graph.Initializer.Add(FloatTensor(conv.WeightName, [conv.OutChannels, conv.InChannels, conv.KernelH, conv.KernelW], conv.Weight));
            graph.Initializer.Add(FloatTensor(conv.BiasName, [conv.OutChannels], conv.Bias));
            var node = Node(index, "Conv", [current, conv.WeightName, conv.BiasName]);
            node.Attribute.Add(Ints("kernel_shape", conv.KernelH, conv.KernelW));
            node.Attribute.Add(Ints("pads", conv.Padding, conv.Padding, conv.Padding, conv.Padding));
            node.Attribute.Add(Ints("strides", 1, 1));
            sampleShape = [conv.OutChannels, outH, outW];
        }

        /// <summary>BatchNormalization(x [N, C, ...], scale, B, mean, var [C], epsilon) in inference mode,
        /// as nn.BatchNorm1d/2d in eval mode; the shape is unchanged.</summary>
        public void AddBatchNorm(int index, LayerDescription.BatchNorm batchNorm)
        {
            if (sampleShape.Count is not (1 or 3) || sampleShape[0] != batchNorm.Channels)
            {
                throw new ArgumentException(
                    $"layer {index} (batch norm {batchNorm.WeightName}) takes [batch, {batchNorm.Channels}, ...] but receives [batch, {string.Join(", ", sampleShape)}]");
            }
            int channels = batchNorm.Channels;
            graph.Initializer.Add(FloatTensor(batchNorm.WeightName, [channels], batchNorm.Weight));
            graph.Initializer.Add(FloatTensor(batchNorm.BiasName, [channels], batchNorm.Bias));
            graph.Initializer.Add(FloatTensor(batchNorm.RunningMeanName, [channels], batchNorm.RunningMean));
            graph.Initializer.Add(FloatTensor(batchNorm.RunningVarName, [channels], batchNorm.RunningVar));
            var node = Node(index, "BatchNormalization",
                [current, batchNorm.WeightName, batchNorm.BiasName, batchNorm.RunningMeanName, batchNorm.RunningVarName]);
            node.Attribute.Add(new AttributeProto { Name = "epsilon", Type = AttributeProto.Types.AttributeType.Float, F = batchNorm.Epsilon });
        }

        /// <summary>MaxPool(kernel 2x2, stride 2, floor), as nn.MaxPool2d(2).</summary>
        public void AddMaxPool2(int index)
        {
            if (sampleShape.Count != 3 || sampleShape[1] < 2 || sampleShape[2] < 2)
                throw new ArgumentException($"layer {index} (max-pool) takes [batch, C, H, W] with H, W >= 2 but receives [batch, {string.Join(", ", sampleShape)}]");
            var node = Node(index, "MaxPool", [current]);
            node.Attribute.Add(Ints("kernel_shape", 2, 2));
            node.Attribute.Add(Ints("strides", 2, 2));
            sampleShape = [sampleShape[0], sampleShape[1] / 2, sampleShape[2] / 2];
        }

        /// <summary>Flatten(axis = 1): [N, C, H, W] to [N, C·H·W], row-major as nn.Flatten().</summary>
        public void AddFlatten(int index)
        {
            if (sampleShape.Count < 2)
                throw new ArgumentException($"layer {index} (flatten) receives [batch, {string.Join(", ", sampleShape)}], already flat");
            var node = Node(index, "Flatten", [current]);
            node.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
            sampleShape = [sampleShape.Aggregate(1, (product, d) => product * d)];
        }

        private static AttributeProto Ints(string name, params long[] values)
        {
            var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
            attribute.Ints.AddRange(values);
            return attribute;
        }

        /// <summary>A node that keeps the shape (Relu).</summary>
        public void AddElementwise(int index, string opType) => Node(index, opType, [current]);

        /// <summary>Names the last node's output "logits", adds Softmax and the graph's inputs and outputs.</summary>
        public GraphProto Finish(string inputDescription)
        {
            if (lastNode is null)
            {
                throw new ArgumentException("the network has no layer that computes anything");
            }

            if (sampleShape.Count != 1)
            {
                throw new ArgumentException($"the last layer produces [batch, {string.Join(", ", sampleShape)}], not [batch, classes]");
            }

            // Nothing consumes the last node's output yet, so renaming it is safe.
            lastNode.Output[0] = LogitsName;
            var softmax = new NodeProto { Name = "softmax", OpType = "Softmax", Input = { LogitsName }, Output = { ProbabilitiesName } };
            softmax.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
            graph.Node.Add(softmax);

            int classes = sampleShape[0];
            graph.Input.Add(Value(InputName, inputShape, inputDescription));
            graph.Output.Add(Value(LogitsName, [classes],
                $"float32 [batch, {classes}]: the network's raw scores (logits), one per class; the predicted class is the largest"));
            graph.Output.Add(Value(ProbabilitiesName, [classes],
                $"float32 [batch, {classes}]: softmax of the logits, class probabilities that sum to 1 per row"));
            return graph;
        }

        private NodeProto Node(int index, string opType, string[] inputs)
        {
            string output = $"{opType.ToLowerInvariant()}_{index}";
            var node = new NodeProto { Name = $"{opType}_{index}", OpType = opType, Input = { inputs }, Output = { output } };
            graph.Node.Add(node);
            current = output;
            lastNode = node;
            return node;
        }

        private static ValueInfoProto Value(string name, IReadOnlyList<int> sampleShape, string doc)
        {
            var shape = new TensorShapeProto();
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = BatchDimension });
            foreach (int d in sampleShape)
            {
                shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
            }

            return new ValueInfoProto
            {
                Name = name,
                DocString = doc,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
            };
        }

        /// <summary>A float32 initializer with the values in raw_data, little-endian, row-major.</summary>
        private static TensorProto FloatTensor(string name, int[] dims, float[] values)
        {
            long count = dims.Aggregate(1L, (product, d) => product * d);
            if (values.Length != count)
            {
                throw new ArgumentException($"tensor {name} has {values.Length} values but its shape [{string.Join(", ", dims)}] holds {count}");
            }

            var raw = new byte[values.Length * sizeof(float)];
            for (int i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * sizeof(float)), values[i]);
            }

            var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(raw) };
            tensor.Dims.AddRange(dims.Select(d => (long)d));
            return tensor;
        }
    }
}
