using System.Runtime.InteropServices;
using OmniStore.Storage.Internal;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// The log device writes aligned buffers with O_DIRECT and everything else through the page cache;
/// whichever path a write takes, reads (buffered) must see exactly the bytes last written.
/// </summary>
public sealed class PreallocatingFileDeviceTests : IDisposable
{
    private const int Align = PreallocatingFileDevice.DirectAlignment;
    private readonly TempDirectory _dir = new("omnistore-device");
    private readonly List<IntPtr> _buffers = [];

    public unsafe void Dispose()
    {
        foreach (var buffer in _buffers)
        {
            NativeMemory.AlignedFree((void*)buffer);
        }

        _dir.Dispose();
    }

    [Fact]
    public async Task AlignedWrite_GoesDirect_WhereTheFileSystemAllowsIt_AndReadsBack()
    {
        using var device = new PreallocatingFileDevice(_dir.Sub("log"));
        var data = TestData.Random(4 * Align, seed: 1);
        var buffer = Aligned(data);

        await WriteAsync(device, buffer, offset: 2 * Align, data.Length);

        Assert.Equal(data, await ReadAsync(device, offset: 2 * Align, data.Length));
        var (direct, buffered) = device.WriteCounts;
        if (device.WritesDirectly(0))
        {
            Assert.Equal((1, 0), (direct, buffered));
        }
        else
        {
            Assert.Equal((0, 1), (direct, buffered));
        }
    }

    [Theory]
    [InlineData(1, 0, Align)] // misaligned address
    [InlineData(0, 100, Align)] // misaligned offset
    [InlineData(0, 0, Align + 17)] // misaligned length
    public async Task UnalignedWrite_FallsBackToThePageCache_AndReadsBack(int addressShift, int offset, int length)
    {
        using var device = new PreallocatingFileDevice(_dir.Sub("log"));
        var data = TestData.Random(length, seed: 2);
        var buffer = Aligned(data, addressShift);

        await WriteAsync(device, buffer, offset, length);

        Assert.Equal(data, await ReadAsync(device, offset, length));
        Assert.Equal((0, 1), device.WriteCounts);
    }

    [Fact]
    public async Task DirectWrite_OverBytesReadThroughThePageCache_IsSeenByTheNextRead()
    {
        using var device = new PreallocatingFileDevice(_dir.Sub("log"));
        var first = TestData.Random(2 * Align, seed: 3);
        var second = TestData.Random(2 * Align, seed: 4);

        // The first version is written buffered (odd length) and read, so it sits in the page cache.
        await WriteAsync(device, Aligned(first), 0, first.Length - 1);
        Assert.Equal(first[..^1], await ReadAsync(device, 0, first.Length - 1));

        await WriteAsync(device, Aligned(second), 0, second.Length);

        Assert.Equal(second, await ReadAsync(device, 0, second.Length));
    }

    private unsafe IntPtr Aligned(byte[] data, int shift = 0)
    {
        var memory = (byte*)NativeMemory.AlignedAlloc((nuint)(data.Length + Align), Align);
        _buffers.Add((IntPtr)memory);
        data.CopyTo(new Span<byte>(memory + shift, data.Length));
        return (IntPtr)(memory + shift);
    }

    private static Task WriteAsync(PreallocatingFileDevice device, IntPtr source, long offset, int length)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        device.WriteAsync(source, 0, (ulong)offset, (uint)length, Completes(done, "write", length), new object());
        return done.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    private async Task<byte[]> ReadAsync(PreallocatingFileDevice device, long offset, int length)
    {
        var memory = Aligned(new byte[length]);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        device.ReadAsync(0, (ulong)offset, memory, (uint)length, Completes(done, "read", length), new object());
        await done.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        return CopyOut(memory, length);
    }

    /// <summary>A device callback that completes <paramref name="done"/>, or fails it unless all <paramref name="length"/> bytes moved.</summary>
    private static FASTER.core.DeviceIOCompletionCallback Completes(TaskCompletionSource done, string operation, int length) => (error, moved, _) =>
    {
        if (error != 0 || moved != length)
        {
            done.SetException(new IOException($"{operation} failed: error {error}, {moved} of {length} bytes"));
        }
        else
        {
            done.SetResult();
        }
    };

    private static unsafe byte[] CopyOut(IntPtr memory, int length) => new Span<byte>((void*)memory, length).ToArray();
}
