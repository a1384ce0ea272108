using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

public sealed class PutGetTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Store => _dir.Sub("store");

    private static byte[] RandomBytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Fact]
    public async Task PutFile_ThenGetToFile_RoundTripsTheBytes()
    {
        // Not a multiple of the chunk size, so the last chunk is short.
        var data = RandomBytes((3 * 65536) + 1234, 1);
        string input = _dir.Sub("input.bin");
        string output = _dir.Sub("output.bin");
        await File.WriteAllBytesAsync(input, data, TestContext.Current.CancellationToken);

        var put = await CliRunner.RunAsync(Store, "put", "data/one", input, "--chunk-size", "64K", "--store", Store);
        Assert.True(put.ExitCode == 0, put.ToString());
        Assert.Contains("4 chunks", put.Output, StringComparison.Ordinal);
        Assert.Empty(put.StandardError);

        var get = await CliRunner.RunAsync(Store, "get", "data/one", "-o", output, "--store", Store);
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Empty(get.StandardOutput);
        Assert.Equal(data, await File.ReadAllBytesAsync(output, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task GetToANamedPipe_WritesIntoThePipe_AndLeavesItAPipe()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "named pipes are made with mkfifo on Linux");
        var ct = TestContext.Current.CancellationToken;
        var data = RandomBytes((2 << 20) + 5, 3);
        string input = _dir.Sub("in.bin");
        await File.WriteAllBytesAsync(input, data, ct);
        Assert.Equal(0, (await CliRunner.RunAsync(Store, "put", "p", input, "--store", Store)).ExitCode);

        // A device or FIFO target is written in place, never replaced by a renamed temporary file
        // (which, run as root against /dev/null, would replace the device node).
        string fifo = _dir.Sub("pipe");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", fifo))
        {
            await mkfifo.WaitForExitAsync(ct);
        }

        var reader = Task.Run(() => File.ReadAllBytes(fifo), ct);
        var get = await CliRunner.RunAsync(Store, "get", "p", "-o", fifo, "--store", Store);
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Equal(data, await reader.WaitAsync(TimeSpan.FromSeconds(30), ct));
        Assert.Equal(0, new FileInfo(fifo).Length); // still a pipe: a renamed temporary file would hold the data
    }

    [Fact]
    public async Task PutFromStdin_ThenGetToStdout_RoundTripsEveryByteValue()
    {
        var data = RandomBytes((2 << 20) + 77, 2);
        for (int i = 0; i < 256; i++)
        {
            data[i] = (byte)i; // newlines, NULs and invalid UTF-8 must pass through untouched
        }

        var put = await CliRunner.RunAsync(["put", "piped", "-", "--store", Store], Store, stdin: data);
        Assert.True(put.ExitCode == 0, put.ToString());

        var get = await CliRunner.RunAsync(Store, "get", "piped", "--store", Store);
        Assert.True(get.ExitCode == 0, get.StandardError);
        Assert.Equal(data, get.StandardOutput);

        var dash = await CliRunner.RunAsync(Store, "get", "piped", "-o", "-", "--store", Store);
        Assert.Equal(data, dash.StandardOutput);
    }

    [Fact]
    public async Task PutFromEmptyStdin_StoresAnEmptyObject()
    {
        var put = await CliRunner.RunAsync(["put", "empty", "-", "--store", Store], Store, stdin: []);
        Assert.True(put.ExitCode == 0, put.ToString());

        var get = await CliRunner.RunAsync(Store, "get", "empty", "--store", Store);
        Assert.Equal(0, get.ExitCode);
        Assert.Empty(get.StandardOutput);
    }

    [Fact]
    public async Task Put_WithoutStoreOption_UsesTheOmnistoreDataDirectory()
    {
        var data = RandomBytes(1000, 3);
        var put = await CliRunner.RunAsync(["put", "env", "-"], Store, stdin: data);
        Assert.True(put.ExitCode == 0, put.ToString());
        Assert.True(Directory.Exists(Store), "the store was not created in $OMNISTORE_DATA");

        var get = await CliRunner.RunAsync(_dir.Sub("elsewhere"), "get", "env", "--store", Store);
        Assert.Equal(data, get.StandardOutput);
    }

    [Fact]
    public async Task Put_UnderABoundName_ReplacesTheContent()
    {
        await CliRunner.RunAsync(["put", "name", "-", "--store", Store], Store, stdin: [1, 2, 3]);
        await CliRunner.RunAsync(["put", "name", "-", "--store", Store], Store, stdin: [4, 5]);

        var get = await CliRunner.RunAsync(Store, "get", "name", "--store", Store);
        Assert.Equal([4, 5], get.StandardOutput);
    }

    [Fact]
    public async Task Get_OfAMissingName_LeavesAnExistingFileAndNoTemporaryFile()
    {
        string output = _dir.Sub("keep.bin");
        await File.WriteAllTextAsync(output, "previous content", TestContext.Current.CancellationToken);

        var get = await CliRunner.RunAsync(Store, "get", "missing", "-o", output, "--store", Store);

        Assert.Equal(ExitCode.Of(OmniStoreError.NotFound), get.ExitCode);
        Assert.Equal("previous content", await File.ReadAllTextAsync(output, TestContext.Current.CancellationToken));
        Assert.Equal([output], Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public async Task Put_OfAMissingFile_FailsWithoutCreatingTheStore()
    {
        var put = await CliRunner.RunAsync(Store, "put", "x", _dir.Sub("no-such-file"), "--store", Store);

        Assert.Equal(ExitCode.IoFailure, put.ExitCode);
        Assert.StartsWith("omnistore: error: ", Assert.Single(put.ErrorLines), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Store));
    }
}
