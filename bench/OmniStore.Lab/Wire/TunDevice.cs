using System.Text;
using OmniStore.Lab.Internal;

namespace OmniStore.Lab.Wire;

/// <summary>
/// One TUN device, owned through its file descriptor: the device exists while the descriptor is
/// open and vanishes with it, so a wire that dies takes its devices along. Moving the device into
/// another network namespace (<c>ip link set DEV netns NS</c>) keeps the descriptor working, which
/// is how one process can own both ends of a cable between two namespaces.
/// </summary>
internal sealed unsafe class TunDevice : IDisposable
{
    private int _fd;

    private TunDevice(string name, int fd)
    {
        Name = name;
        _fd = fd;
    }

    public string Name { get; }

    public int Fd => _fd;

    /// <summary>Creates a layer-3 TUN device without packet-information headers, in non-blocking mode.</summary>
    public static TunDevice Create(string name)
    {
        var bytes = Encoding.ASCII.GetBytes(name);
        if (bytes.Length is 0 or > 15)
        {
            throw new ArgumentException($"Interface name '{name}' must be 1..15 ASCII characters.", nameof(name));
        }

        var fd = Libc.Open("/dev/net/tun", Libc.O_RDWR | Libc.O_CLOEXEC | Libc.O_NONBLOCK);
        if (fd < 0)
        {
            throw new IOException($"open /dev/net/tun: {Libc.ErrorText(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
        }

        var request = default(Libc.InterfaceRequest);
        for (var i = 0; i < bytes.Length; i++)
        {
            request.Name[i] = bytes[i];
        }

        request.Flags = Libc.IFF_TUN | Libc.IFF_NO_PI;
        if (Libc.Ioctl(fd, Libc.TUNSETIFF, &request) < 0)
        {
            var error = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            Libc.Close(fd);
            throw new IOException($"TUNSETIFF {name}: {Libc.ErrorText(error)}");
        }

        return new TunDevice(name, fd);
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            Libc.Close(fd);
        }
    }
}
