using System.Buffers;
using System.Text;

namespace OmniStore.Protocol;

/// <summary>
/// Says what answered when the first bytes from a peer are not an OmniStore frame: most often an
/// HTTP server (a node's status port given in place of its node port) or some other service. The
/// bytes are the peer's, so they are shown escaped and cut.
/// </summary>
internal static class ForeignPeer
{
    /// <summary>How many of the peer's bytes a message shows.</summary>
    public const int ShownBytes = 32;

    private static readonly string[] HttpMethods = ["GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ", "PRI "];

    /// <summary>The error for a peer whose first bytes, <paramref name="received"/>, are no frame.</summary>
    public static OmniStoreException NotAnOmniStoreNode(in ReadOnlySequence<byte> received)
    {
        Span<byte> head = stackalloc byte[ShownBytes];
        int length = (int)Math.Min(received.Length, ShownBytes);
        received.Slice(0, length).CopyTo(head);
        head = head[..length];
        string what = head.StartsWith("HTTP/"u8)
            ? "it answered with HTTP"
            : IsHttpRequest(head)
                ? "it sent an HTTP request"
                : $"unexpected bytes '{Escape(head)}'{(received.Length > ShownBytes ? "..." : string.Empty)}";
        return new OmniStoreException(OmniStoreError.ProtocolError, $"This is not an OmniStore node ({what}).");
    }

    private static bool IsHttpRequest(ReadOnlySpan<byte> head)
    {
        foreach (string method in HttpMethods)
        {
            if (head.StartsWith(Encoding.ASCII.GetBytes(method)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Printable ASCII as it is; every other byte as <c>\xHH</c>.</summary>
    private static string Escape(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder(bytes.Length * 2);
        foreach (byte b in bytes)
        {
            if (b is >= 0x20 and < 0x7f && b != (byte)'\\' && b != (byte)'\'')
            {
                text.Append((char)b);
            }
            else
            {
                text.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{b:X2}");
            }
        }

        return text.ToString();
    }
}
