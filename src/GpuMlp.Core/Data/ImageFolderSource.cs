using System.Globalization;

namespace GpuMlp.Data;

/// <summary>
/// A folder of labelled images laid out as torchvision's ImageFolder and Keras'
/// image_dataset_from_directory read it: root/&lt;class&gt;/&lt;image&gt; (images may sit in
/// subfolders of their class folder), or root/train/&lt;class&gt;/... and root/test/&lt;class&gt;/...
/// for a split of the user's own. Class k is the k-th folder name in ordinal (codepoint) order.
/// Files with the extensions of <see cref="ImageFileNames.Extensions"/> are read; other files,
/// hidden files and folders (names starting with '.') and files directly in root are skipped and
/// counted. Without train/ and test/ a stratified test split is drawn: in each class,
/// round(n x TestSplit) images (at most n - 1) chosen with SplitSeed.
/// Every image becomes C x H x W: H x W is ImageSize x ImageSize, or the size the images share
/// (the most common one when they differ, the others resized); C is 1 (gray) or 3 (RGB), as
/// asked or, with Auto, 3 when any file stores colour. What was chosen is logged.
/// The decoded tensor is cached outside the folder (<see cref="DecodedImageCache"/>); nothing
/// is ever written into the folder.
/// </summary>
public sealed class ImageFolderSource : IImageSource
{
    private const string TrainFolder = "train";
    private const string TestFolder = "test";

    /// <summary>Folders of at least this many images report decoding progress ...</summary>
    private const int ProgressFrom = 2000;

    /// <summary>... every twentieth of the images.</summary>
    private const int ProgressParts = 20;

    private readonly Lazy<FolderListing> listing;
    private readonly Lazy<Layout> layout;

    /// <summary>A source over <paramref name="root"/>, caching decoded images in the user's cache
    /// folder (see <see cref="DecodedImageCache"/>). Nothing is read until <see cref="Schema"/> or
    /// <see cref="Load"/>.</summary>
    /// <exception cref="OptionException">An option is out of range.</exception>
    public ImageFolderSource(string root, ImageLoadOptions options)
        : this(root, options, DecodedImageCache.Directory(Environment.GetEnvironmentVariable))
    {
    }

    internal ImageFolderSource(string root, ImageLoadOptions options, string cacheDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(cacheDirectory);
        if (options.ImageSize is { } size && size is < 1 or > ImageShape.MaxDimension)
            throw new OptionException(string.Create(CultureInfo.InvariantCulture, $"--image-size {size} is outside 1..{ImageShape.MaxDimension}"));
        if (!(options.TestSplit is >= 0 and < 1))
            throw new OptionException(string.Create(CultureInfo.InvariantCulture, $"--test-split {options.TestSplit} is outside [0, 1)"));
        Path = root;
        Options = options;
        CacheDirectory = cacheDirectory;
        listing = new Lazy<FolderListing>(() => ReadListing(root, options));
        layout = new Lazy<Layout>(ResolveLayout);
    }

    public string Path { get; }

    public ImageLoadOptions Options { get; }

    /// <summary>Where the decoded images are cached (outside the data folder).</summary>
    public string CacheDirectory { get; }

    /// <summary>The classes (the folder names, sorted) and the image shape, from the folder
    /// listing and, unless the options fix size and channels, the images' headers (or the cache).</summary>
    /// <exception cref="DataFormatException">The folder is not a usable image folder (one line naming what is wrong).</exception>
    public ImageSchema Schema => new(layout.Value.Shape, listing.Value.ClassNames);

    /// <summary>True when <paramref name="path"/> is a folder laid out as root/&lt;class&gt;/&lt;image&gt;
    /// (some class folder holds a file with an image extension) or holds both train/ and test/ folders.</summary>
    public static bool IsImageFolder(string path)
    {
        if (string.IsNullOrEmpty(path) || !Directory.Exists(path))
            return false;
        if (Directory.Exists(System.IO.Path.Combine(path, TrainFolder)) && Directory.Exists(System.IO.Path.Combine(path, TestFolder)))
            return true;
        try
        {
            return Directory.EnumerateDirectories(path).Any(folder =>
                Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Any(ImageFileNames.HasImageExtension));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Reads every image (in parallel; progress for large folders) or the cached decode.</summary>
    /// <exception cref="DataFormatException">The folder is not a usable image folder or an image
    /// cannot be decoded (one line naming the file or folder).</exception>
    public ImageDataset Load(Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(log);
        FolderListing files = listing.Value;
        foreach (string line in files.Notes)
            log(line);
        Layout chosen = layout.Value;
        foreach (string line in chosen.Notes)
            log(line);

        string cacheFile = DecodedImageCache.FileFor(CacheDirectory, files.CacheName);
        if (DecodedImageCache.Read(cacheFile, files.Key) is { } cached && cached.Schema.Equals(Schema))
        {
            log($"decoded images read from the cache {cacheFile}");
            return Named(cached, files);
        }

        ImageDataset data = Decode(files, chosen.Shape, log);
        string fullRoot = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(Path)) + System.IO.Path.DirectorySeparatorChar;
        if (System.IO.Path.GetFullPath(cacheFile).StartsWith(fullRoot, StringComparison.Ordinal))
        {
            log($"decoded images not cached: the cache folder {CacheDirectory} is inside the data folder");
            return data;
        }
        try
        {
            DecodedImageCache.Write(cacheFile, files.Key, data, chosen.Notes);
            log($"decoded images cached in {cacheFile}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            log($"decoded images not cached: {ex.Message}");
        }
        return Named(data, files);
    }

    /// <summary>Each image named by its file relative to the data folder, in split order (the
    /// listing's, not the cache's: the cache holds pixels and labels only).</summary>
    private ImageDataset Named(ImageDataset data, FolderListing files)
    {
        string[] Names(bool isTest, int count)
        {
            var names = new string[count];
            foreach (ImageFile image in files.Images.Where(image => image.Test == isTest))
                names[image.Index] = System.IO.Path.GetRelativePath(Path, image.FullPath).Replace('\\', '/');
            return names;
        }
        return new ImageDataset(
            data.Train.WithItemNames(Names(false, data.Train.Count)),
            data.Test.WithItemNames(Names(true, data.Test.Count)),
            data.ClassNames);
    }

    private ImageDataset Decode(FolderListing files, ImageShape shape, Action<string> log)
    {
        ImageFile[] images = files.Images;
        int trainCount = images.Count(image => !image.Test);
        var train = new byte[(long)trainCount * shape.Pixels];
        var test = new byte[(long)(images.Length - trainCount) * shape.Pixels];
        var errors = new string?[images.Length];
        int done = 0, step = images.Length >= ProgressFrom ? images.Length / ProgressParts : int.MaxValue;
        var logLock = new object();
        var started = System.Diagnostics.Stopwatch.StartNew();
        Parallel.For(0, images.Length, i =>
        {
            ImageFile image = images[i];
            try
            {
                byte[] split = image.Test ? test : train;
                ImageFileDecoder.Decode(image.FullPath, shape, split.AsSpan(image.Index * shape.Pixels, shape.Pixels));
            }
            catch (DataFormatException ex)
            {
                errors[i] = ex.Message;
            }
            int now = Interlocked.Increment(ref done);
            if (now % step == 0)
            {
                lock (logLock)
                    log(string.Create(CultureInfo.InvariantCulture, $"decoded {now} of {images.Length} images ({now / started.Elapsed.TotalSeconds:F0} images/s)"));
            }
        });
        if (Array.Find(errors, error => error is not null) is { } first)
            throw new DataFormatException(first);
        log(string.Create(CultureInfo.InvariantCulture,
            $"decoded {images.Length} images as {shape} in {started.Elapsed.TotalSeconds:F1} s ({images.Length / Math.Max(started.Elapsed.TotalSeconds, 1e-9):F0} images/s)"));

        byte[] Labels(bool isTest) => [.. images.Where(image => image.Test == isTest).Select(image => image.Label)];
        return new ImageDataset(
            new ImageSet(TrainFolder, shape, train, Labels(false)),
            new ImageSet(TestFolder, shape, test, Labels(true)),
            files.ClassNames);
    }

    /// <summary>The listing, with a folder or file that cannot be read (permissions, a file removed
    /// meanwhile) reported as one line naming it.</summary>
    private static FolderListing ReadListing(string root, ImageLoadOptions options)
    {
        try
        {
            return FolderListing.Read(root, options);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException($"{root}: cannot list the images ({ex.Message})", ex);
        }
    }

    /// <summary>The shape from the options alone when they fix both size and channels; else from
    /// the cache when it holds this folder; else from every image's header.</summary>
    private Layout ResolveLayout()
    {
        FolderListing files = listing.Value;
        if (Options.ImageSize is { } fixedSide && Options.Channels != ImageChannels.Auto)
        {
            int channels = ChannelCount(Options.Channels, anyColour: false);
            return new Layout(new ImageShape(channels, fixedSide, fixedSide),
                [$"images read as {ChannelWords(channels)} (--channels), resized to {fixedSide}x{fixedSide} where they differ (--image-size)"]);
        }
        if (DecodedImageCache.ReadLayout(DecodedImageCache.FileFor(CacheDirectory, files.CacheName), files.Key) is { } cached
            && cached.ClassNames.SequenceEqual(files.ClassNames, StringComparer.Ordinal))
        {
            return new Layout(cached.Shape, cached.Notes);
        }

        ImageFile[] images = files.Images;
        var headers = new ImageHeader[images.Length];
        var errors = new string?[images.Length];
        Parallel.For(0, images.Length, i =>
        {
            try
            {
                headers[i] = ImageFileDecoder.ReadHeader(images[i].FullPath);
            }
            catch (DataFormatException ex)
            {
                errors[i] = ex.Message;
            }
        });
        if (Array.Find(errors, error => error is not null) is { } first)
            throw new DataFormatException(first);

        var notes = new List<string>();
        int colour = headers.Count(header => header.StoredInColour);
        int c = ChannelCount(Options.Channels, colour > 0);
        notes.Add(Options.Channels == ImageChannels.Auto
            ? string.Create(CultureInfo.InvariantCulture, $"images read as {ChannelWords(c)}: {colour} of {images.Length} files store colour (--channels auto; alpha is composited onto black)")
            : $"images read as {ChannelWords(c)} (--channels; alpha is composited onto black)");

        int width, height;
        if (Options.ImageSize is { } side)
        {
            (width, height) = (side, side);
            int other = headers.Count(header => header.Width != side || header.Height != side);
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"images resized to {side}x{side} (--image-size): {other} of {images.Length} differ"));
        }
        else
        {
            // The most common size; ties go to the size seen first in file order.
            var sizes = headers.Select((header, order) => (header.Width, header.Height, order))
                .GroupBy(entry => (entry.Width, entry.Height))
                .Select(group => (Size: group.Key, Count: group.Count(), First: group.Min(entry => entry.order)))
                .OrderByDescending(entry => entry.Count).ThenBy(entry => entry.First)
                .ToList();
            (width, height) = sizes[0].Size;
            if (sizes.Count > 1)
            {
                int resized = images.Length - sizes[0].Count;
                notes.Add(string.Create(CultureInfo.InvariantCulture,
                    $"images have {sizes.Count} sizes: {resized} of {images.Length} resized to the most common, {width}x{height} (--image-size sets one)"));
            }
        }
        return new Layout(new ImageShape(c, height, width), notes);
    }

    private static int ChannelCount(ImageChannels channels, bool anyColour) => channels switch
    {
        ImageChannels.Gray => 1,
        ImageChannels.Rgb => 3,
        ImageChannels.Auto => anyColour ? 3 : 1,
        _ => throw new ArgumentOutOfRangeException(nameof(channels), channels, "unknown channel choice"),
    };

    private static string ChannelWords(int channels) => channels == 3 ? "3 channels (RGB)" : "1 channel (gray)";

    /// <summary>The image shape and the lines that say how it was chosen.</summary>
    private sealed record Layout(ImageShape Shape, IReadOnlyList<string> Notes);

    /// <summary>One image file: its label, its split and its index within the split.</summary>
    private sealed record ImageFile(string FullPath, byte Label, bool Test, int Index);

    /// <summary>The classes and image files of a folder, each split's files in class order then
    /// ordinal path order; the cache file's name (folder and options: one file per folder, replaced
    /// when its images change) and key (also every image's path, length and time); and the lines
    /// that describe them.</summary>
    private sealed record FolderListing(IReadOnlyList<string> ClassNames, ImageFile[] Images, string CacheName, string Key, IReadOnlyList<string> Notes)
    {
        public static FolderListing Read(string root, ImageLoadOptions options)
        {
            string full = System.IO.Path.GetFullPath(root);
            if (!Directory.Exists(full))
                throw new DataFormatException($"{root}: no such folder");
            var skipped = new SkippedFiles();
            string trainRoot = System.IO.Path.Combine(full, TrainFolder), testRoot = System.IO.Path.Combine(full, TestFolder);
            bool hasTrain = Directory.Exists(trainRoot), hasTest = Directory.Exists(testRoot);
            if (hasTrain != hasTest)
            {
                throw new DataFormatException(
                    $"{root} has a {(hasTrain ? TrainFolder : TestFolder)}/ folder but no {(hasTrain ? TestFolder : TrainFolder)}/ folder: give both (the splits) or neither (class folders)");
            }

            string[] classNames;
            var entries = new List<(string Path, string Relative, byte Label, bool Test)>();
            string splitNote;
            if (hasTrain)
            {
                string[] trainClasses = ClassFolders(trainRoot, System.IO.Path.Combine(root, TrainFolder), skipped);
                string[] testClasses = ClassFolders(testRoot, System.IO.Path.Combine(root, TestFolder), skipped);
                if (!trainClasses.SequenceEqual(testClasses, StringComparer.Ordinal))
                {
                    string onlyTrain = string.Join(", ", trainClasses.Except(testClasses, StringComparer.Ordinal));
                    string onlyTest = string.Join(", ", testClasses.Except(trainClasses, StringComparer.Ordinal));
                    throw new DataFormatException(
                        $"{root}: train/ and test/ hold different class folders (only in train/: {(onlyTrain.Length > 0 ? onlyTrain : "none")}; only in test/: {(onlyTest.Length > 0 ? onlyTest : "none")})");
                }
                classNames = trainClasses;
                CheckClassCount(root, classNames);
                AddImages(entries, full, trainRoot, classNames, test: false, skipped);
                AddImages(entries, full, testRoot, classNames, test: true, skipped);
                splitNote = "the split is the train/ and test/ folders";
            }
            else
            {
                classNames = ClassFolders(full, root, skipped);
                CheckClassCount(root, classNames);
                AddImages(entries, full, full, classNames, test: false, skipped);
                DrawTestSplit(entries, classNames.Length, options);
                splitNote = string.Create(CultureInfo.InvariantCulture,
                    $"test split drawn: in each class round(n x {options.TestSplit}) images (at most n - 1), chosen with --split-seed {options.SplitSeed}");
            }

            var images = new ImageFile[entries.Count];
            int trainIndex = 0, testIndex = 0;
            var keyLines = new List<string>
            {
                full,
                string.Create(CultureInfo.InvariantCulture, $"size {options.ImageSize}, channels {options.Channels}, test split {options.TestSplit:R}, seed {options.SplitSeed}"),
            };
            // Each split in label order, then in path order: the order the folder lists them. Then the
            // training split is put in a random order drawn with SplitSeed: a run holds out its
            // validation images from the end of the training split (--val-split), which in folder
            // order would be the last class's images alone.
            var listed = entries.Select((entry, order) => (entry, order))
                .OrderBy(item => item.entry.Test).ThenBy(item => item.entry.Label).ThenBy(item => item.order).Select(item => item.entry).ToList();
            ShuffleTraining(listed, options.SplitSeed);
            var ordered = listed;
            int n = 0;
            foreach (var entry in ordered)
            {
                images[n++] = new ImageFile(entry.Path, entry.Label, entry.Test, entry.Test ? testIndex++ : trainIndex++);
                var info = new FileInfo(entry.Path);
                keyLines.Add(string.Create(CultureInfo.InvariantCulture, $"{entry.Relative}\t{entry.Test}\t{info.Length}\t{info.LastWriteTimeUtc.Ticks}"));
            }

            var notes = new List<string>
            {
                string.Create(CultureInfo.InvariantCulture,
                    $"{root}: {images.Length} images in {classNames.Length} classes ({Summary(classNames)}); {splitNote}: {trainIndex} train, {testIndex} test"),
                string.Create(CultureInfo.InvariantCulture,
                    $"training images in a random order drawn with --split-seed {options.SplitSeed}, so the validation split (the last --val-split of them) holds every class"),
            };
            if (skipped.Count > 0)
                notes.Add(skipped.Describe());
            return new FolderListing(classNames, images, DecodedImageCache.Key(keyLines.Take(2)), DecodedImageCache.Key(keyLines), notes);
        }

        private static string Summary(string[] names) => string.Join(", ", names.Take(12)) + (names.Length > 12 ? ", ..." : "");

        /// <summary>The visible subfolders of <paramref name="folder"/>, ordinal order; files beside
        /// them and hidden folders are skipped. <paramref name="shownAs"/> names the folder in errors.</summary>
        private static string[] ClassFolders(string folder, string shownAs, SkippedFiles skipped)
        {
            foreach (string file in Directory.EnumerateFiles(folder))
                skipped.Add(file, "not in a class folder");
            var names = new List<string>();
            foreach (string sub in Directory.EnumerateDirectories(folder))
            {
                string name = System.IO.Path.GetFileName(sub);
                if (name.StartsWith('.'))
                    skipped.Add(sub, "hidden folder");
                else
                    names.Add(name);
            }
            if (names.Count == 0)
            {
                throw new DataFormatException($"{shownAs}: no class folders (expected <class>/<image> inside)");
            }
            names.Sort(StringComparer.Ordinal);
            return [.. names];
        }

        private static void CheckClassCount(string root, string[] classNames)
        {
            if (classNames.Length < 2)
                throw new DataFormatException($"{root}: a classifier needs at least 2 class folders, found 1 ({classNames[0]})");
            if (classNames.Length > ImageSchema.MaxClasses)
                throw new DataFormatException(string.Create(CultureInfo.InvariantCulture, $"{root}: {classNames.Length} class folders, at most {ImageSchema.MaxClasses} are supported"));
        }

        private static void AddImages(List<(string, string, byte, bool)> entries, string full, string splitRoot, string[] classNames, bool test, SkippedFiles skipped)
        {
            var empty = new List<string>();
            for (int label = 0; label < classNames.Length; label++)
            {
                string classFolder = System.IO.Path.Combine(splitRoot, classNames[label]);
                var files = new List<string>();
                CollectImages(classFolder, files, skipped);
                files.Sort(StringComparer.Ordinal);
                if (files.Count == 0)
                    empty.Add(System.IO.Path.GetRelativePath(full, classFolder));
                foreach (string file in files)
                    entries.Add((file, System.IO.Path.GetRelativePath(full, file), (byte)label, test));
            }
            if (empty.Count == classNames.Length)
                throw new DataFormatException($"{splitRoot}: no images at all (expected {string.Join(", ", ImageFileNames.Extensions)} files in the class folders)");
            if (empty.Count > 0)
                throw new DataFormatException($"{System.IO.Path.Combine(full, empty[0])}: class folder holds no images{(empty.Count > 1 ? $" (nor do {string.Join(", ", empty.Skip(1))})" : "")}");
        }

        private static void CollectImages(string folder, List<string> files, SkippedFiles skipped)
        {
            foreach (string file in Directory.EnumerateFiles(folder))
            {
                if (System.IO.Path.GetFileName(file).StartsWith('.'))
                    skipped.Add(file, "hidden file");
                else if (ImageFileNames.HasImageExtension(file))
                    files.Add(file);
                else
                    skipped.Add(file, "not an image extension");
            }
            foreach (string sub in Directory.EnumerateDirectories(folder))
            {
                if (System.IO.Path.GetFileName(sub).StartsWith('.'))
                    skipped.Add(sub, "hidden folder");
                else
                    CollectImages(sub, files, skipped);
            }
        }

        /// <summary>Puts the training images (the first entries of <paramref name="listed"/>, which holds
        /// the training split, then the test split) in a Fisher-Yates order from a generator seeded by
        /// <paramref name="seed"/>; the test split keeps the folder's order.</summary>
        private static void ShuffleTraining(List<(string Path, string Relative, byte Label, bool Test)> listed, int seed)
        {
            int train = listed.Count(entry => !entry.Test);
            var random = new Random(seed);
            for (int i = train - 1; i > 0; i--)
            {
                int j = random.Next(i + 1);
                (listed[i], listed[j]) = (listed[j], listed[i]);
            }
        }

        /// <summary>Marks round(n x TestSplit) images of each class (at most n - 1) as test, chosen by
        /// Fisher-Yates shuffles of each class's images in label order, from one generator seeded by SplitSeed.</summary>
        private static void DrawTestSplit(List<(string Path, string Relative, byte Label, bool Test)> entries, int classes, ImageLoadOptions options)
        {
            var random = new Random(options.SplitSeed);
            for (int label = 0; label < classes; label++)
            {
                int[] members = [.. Enumerable.Range(0, entries.Count).Where(i => entries[i].Label == label)];
                int testCount = Math.Min((int)Math.Round(members.Length * options.TestSplit, MidpointRounding.AwayFromZero), members.Length - 1);
                for (int i = members.Length - 1; i > 0; i--)
                {
                    int j = random.Next(i + 1);
                    (members[i], members[j]) = (members[j], members[i]);
                }
                foreach (int index in members.Take(testCount))
                    entries[index] = entries[index] with { Test = true };
            }
        }
    }

    /// <summary>What the listing passed over, counted by reason, with one example path each.</summary>
    private sealed class SkippedFiles
    {
        private readonly SortedDictionary<string, (int Count, string Example)> byReason = new(StringComparer.Ordinal);

        public int Count => byReason.Values.Sum(entry => entry.Count);

        public void Add(string path, string reason) =>
            byReason[reason] = byReason.TryGetValue(reason, out var entry) ? (entry.Count + 1, entry.Example) : (1, path);

        public string Describe() => "skipped " + string.Join("; ", byReason.Select(pair =>
            string.Create(CultureInfo.InvariantCulture, $"{pair.Value.Count} {pair.Key} (e.g. {pair.Value.Example})")));
    }
}
