using System.Runtime.InteropServices;

namespace OmniStore.Cli;

/// <summary>
/// Whether a path is a regular file. .NET reports devices and FIFOs as ordinary files, so this asks
/// stat(2) for the file type directly (the offset of st_mode in struct stat depends on the ABI).
/// </summary>
internal static partial class UnixFileType
{
    private const uint TypeMask = 0xF000; // S_IFMT
    private const uint Regular = 0x8000; // S_IFREG

    /// <summary>True for a regular file (following symbolic links); true where the type cannot be asked.</summary>
    public static bool IsRegular(string path)
    {
        int modeOffset = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 24,
            Architecture.Arm64 => 16,
            _ => -1,
        };
        if (!OperatingSystem.IsLinux() || modeOffset < 0)
        {
            return true;
        }

        Span<byte> status = stackalloc byte[256]; // larger than struct stat on every Linux ABI
        if (Stat(path, ref MemoryMarshal.GetReference(status)) != 0)
        {
            return true; // vanished or unreadable: let the caller's own open report it
        }

        uint mode = MemoryMarshal.Read<uint>(status[modeOffset..]);
        return (mode & TypeMask) == Regular;
    }

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, ref byte status);
}
