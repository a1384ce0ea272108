using System.Net.Sockets;

namespace OmniStore.Transport.Tcp;

/// <summary>The outcome of one accept.</summary>
/// <param name="Status">What happened.</param>
/// <param name="Socket">The connection, when <see cref="TcpAcceptStatus.Accepted"/>; the caller owns it.</param>
/// <param name="Error">The socket error of a failed accept.</param>
/// <param name="Problem">A failed accept's error, for a log line.</param>
internal readonly record struct TcpAcceptResult(TcpAcceptStatus Status, AcceptedSocket? Socket, SocketError Error, string? Problem);
