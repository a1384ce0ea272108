namespace OmniStore.Nat;

/// <summary>
/// CRC-32 as IEEE 802.3, zlib and STUN's FINGERPRINT compute it (reflected polynomial
/// <c>0xEDB88320</c>, initial value and final XOR <c>0xFFFFFFFF</c>). System.IO.Hashing is not
/// available here, so it is written out: byte at a time from a table, which is plenty for STUN's
/// messages of a few dozen bytes.
/// </summary>
internal static class Crc32
{
    private static readonly uint[] Table = CreateTable();

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc ^ 0xFFFFFFFF;
    }

    private static uint[] CreateTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
