using System.Net;
using System.Net.Sockets;

namespace OmniStore.Nat.PortMapping;

/// <summary>Reads a datagram as the answer to a request; null, with the reason in <paramref name="problem"/>, when it is not (or is another request's).</summary>
internal delegate T? AnswerReader<T>(ReadOnlySpan<byte> datagram, out string? problem)
    where T : class;

/// <summary>
/// One NAT-PMP or PCP request-response exchange over UDP (RFC 6886 section 3.1, RFC 6887 section
/// 8.1.1): sends the request, waits for an answer from the server's address and port, sends again
/// after each wait, each wait twice the last. Datagrams from elsewhere are ignored; answers that
/// do not read (wrong size, opcode, nonce) are ignored too, as a spoofed one would be, and the
/// last reason is named in the error when no good answer came.
/// </summary>
internal static class GatewayTransaction
{
    /// <summary>The largest datagram read: PCP's limit (RFC 6887 section 7), larger than any NAT-PMP answer.</summary>
    public const int MaxDatagram = 1100;

    /// <summary>Runs the exchange; returns the first answer <paramref name="read"/> accepts.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Unavailable"/> when nothing answered within the schedule; <see cref="OmniStoreError.ProtocolError"/> when only answers that do not read came.</exception>
    public static async Task<T> ExchangeAsync<T>(Socket socket, IPEndPoint server, ReadOnlyMemory<byte> request, PortMappingSchedule schedule, AnswerReader<T> read, string protocol, CancellationToken cancellationToken)
        where T : class
    {
        var buffer = new byte[MaxDatagram + 1];
        var wait = schedule.InitialWait;
        string? lastProblem = null;
        for (int sent = 1; sent <= schedule.Requests; sent++)
        {
            await socket.SendToAsync(request, SocketFlags.None, server, cancellationToken).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(wait);
            try
            {
                while (true)
                {
                    var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token).ConfigureAwait(false);
                    if (!SameEndPoint(received.RemoteEndPoint, server))
                    {
                        continue;
                    }

                    if (received.ReceivedBytes > MaxDatagram)
                    {
                        lastProblem = $"an answer of more than {MaxDatagram} bytes";
                        continue;
                    }

                    if (read(buffer.AsSpan(0, received.ReceivedBytes), out var problem) is { } answer)
                    {
                        return answer;
                    }

                    lastProblem = problem;
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                wait *= 2; // no good answer in time: send again
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
            {
                // ICMP port unreachable from an earlier send: nothing listens there (yet); wait out this round.
                lastProblem ??= "ICMP port unreachable (no server on port " + server.Port + ")";
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                wait *= 2;
            }
        }

        if (lastProblem is not null)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"The {protocol} server {server} sent no usable answer to {schedule.Requests} requests; the last was refused: {lastProblem}.");
        }

        throw new OmniStoreException(OmniStoreError.Unavailable, $"The {protocol} server {server} did not answer {schedule.Requests} requests within {schedule.Total.TotalSeconds:0.#} s.");
    }

    private static bool SameEndPoint(EndPoint received, IPEndPoint server) =>
        received is IPEndPoint from && from.Port == server.Port &&
        (from.Address.IsIPv4MappedToIPv6 ? from.Address.MapToIPv4() : from.Address).Equals(server.Address.IsIPv4MappedToIPv6 ? server.Address.MapToIPv4() : server.Address);
}
