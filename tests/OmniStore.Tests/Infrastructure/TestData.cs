namespace OmniStore.Tests.Infrastructure;

public static class TestData
{
    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] Random(long length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}
