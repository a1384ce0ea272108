using System.Runtime.InteropServices;

namespace OmniStore.Tests.Content;

/// <summary>
/// The reference implementation (Debian/Ubuntu package libxxhash0), called only to check the managed
/// XXH3 against it. Nothing outside the tests may depend on it.
/// </summary>
internal static unsafe class NativeXxHash
{
    internal const string LibraryName = "libxxhash.so.0";

    /// <summary>xxHash's <c>XXH128_hash_t</c>: low half first, as the C struct declares it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Xxh128Hash
    {
        public ulong Low64;
        public ulong High64;

        public readonly UInt128 ToUInt128() => new(High64, Low64);
    }

    private static readonly Lazy<string?> s_loadError = new(ProbeLibrary);

    /// <summary>Null when the library loads and exports what the tests call; otherwise why not.</summary>
    internal static string? LoadError => s_loadError.Value;

    internal static ulong Hash64(ReadOnlySpan<byte> data, ulong seed)
    {
        fixed (byte* p = data)
        {
            return XXH3_64bits_withSeed(p, (nuint)data.Length, seed);
        }
    }

    internal static UInt128 Hash128(ReadOnlySpan<byte> data, ulong seed)
    {
        fixed (byte* p = data)
        {
            return XXH3_128bits_withSeed(p, (nuint)data.Length, seed).ToUInt128();
        }
    }

    /// <summary>xxHash's version as major * 10000 + minor * 100 + release, e.g. 801 for 0.8.1.</summary>
    internal static uint Version() => XXH_versionNumber();

    private static string? ProbeLibrary()
    {
        if (!NativeLibrary.TryLoad(LibraryName, out IntPtr handle))
        {
            return $"{LibraryName} could not be loaded (install the libxxhash0 package)";
        }

        foreach (string export in new[] { "XXH3_64bits_withSeed", "XXH3_128bits_withSeed", "XXH_versionNumber" })
        {
            if (!NativeLibrary.TryGetExport(handle, export, out _))
            {
                return $"{LibraryName} does not export {export}";
            }
        }

        return null;
    }

#pragma warning disable SYSLIB1054 // The brief asks for plain DllImport; the signatures are blittable, so no marshalling stub is generated either way.
    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    private static extern ulong XXH3_64bits_withSeed(byte* input, nuint length, ulong seed);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    private static extern Xxh128Hash XXH3_128bits_withSeed(byte* input, nuint length, ulong seed);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    private static extern uint XXH_versionNumber();
#pragma warning restore SYSLIB1054
}
