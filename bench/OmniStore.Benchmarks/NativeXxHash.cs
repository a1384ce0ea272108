using System.Runtime.InteropServices;

namespace OmniStore.Benchmarks;

/// <summary>
/// The reference xxHash library (Debian/Ubuntu package libxxhash0), the baseline the managed XXH3
/// is measured against.
/// </summary>
/// <remarks>
/// libxxhash exports two flavours: the plain entry points are compiled for the distribution's
/// baseline ISA (SSE2 on x86-64), the <c>_dispatch</c> ones pick AVX2/AVX-512 at run time.
/// </remarks>
internal static unsafe class NativeXxHash
{
    private const string LibraryName = "libxxhash.so.0";

    [StructLayout(LayoutKind.Sequential)]
    internal struct Xxh128Hash
    {
        public ulong Low64;
        public ulong High64;

        /// <summary>Same shape as the managed result, so both 128-bit rows pay the same to return it.</summary>
        public readonly UInt128 ToUInt128() => new(High64, Low64);
    }

#pragma warning disable SYSLIB1054 // Blittable signatures: DllImport needs no marshalling stub, same as LibraryImport.
    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    internal static extern ulong XXH3_64bits_withSeed(byte* input, nuint length, ulong seed);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    internal static extern Xxh128Hash XXH3_128bits_withSeed(byte* input, nuint length, ulong seed);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    internal static extern ulong XXH3_64bits_withSeed_dispatch(byte* input, nuint length, ulong seed);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    internal static extern Xxh128Hash XXH3_128bits_withSeed_dispatch(byte* input, nuint length, ulong seed);
#pragma warning restore SYSLIB1054
}
