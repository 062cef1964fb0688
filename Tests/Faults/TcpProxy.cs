using System.Net;
using System.Net.Sockets;

namespace JobScheduler.Tests.Faults;

/// <summary>
/// A TCP forwarder on 127.0.0.1 between a daemon and the test PostgreSQL server, so a test can
/// cut the database off and bring it back. <see cref="Cut"/> resets every open connection and
/// closes the listening socket, so new connections are refused as by a server that is down.
/// <see cref="Restore"/> listens again on the same port.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly DnsEndPoint _target;
    private readonly Lock _lock = new();
    private readonly HashSet<Socket> _open = [];
    private TcpListener? _listener;

    private TcpProxy(DnsEndPoint target, int port)
    {
        _target = target;
        Port = port;
    }

    /// <summary>The loopback port that clients connect to.</summary>
    public int Port { get; }

    /// <summary>Starts forwarding from a free loopback port to the given server.</summary>
    public static TcpProxy Start(string targetHost, int targetPort)
    {
        var listener = Listen(0);
        var proxy = new TcpProxy(new DnsEndPoint(targetHost, targetPort),
            ((IPEndPoint)listener.LocalEndpoint).Port);
        proxy.Accept(listener);
        return proxy;
    }

    /// <summary>Resets every forwarded connection on both sides and refuses new ones.</summary>
    public void Cut()
    {
        lock (_lock)
        {
            _listener?.Stop();
            _listener = null;
            foreach (var socket in _open)
            {
                Reset(socket);
            }

            _open.Clear();
        }
    }

    /// <summary>Accepts connections again on <see cref="Port"/>.</summary>
    public void Restore()
    {
        lock (_lock)
        {
            if (_listener is null)
            {
                Accept(Listen(Port));
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        Cut();
        return ValueTask.CompletedTask;
    }

    private static TcpListener Listen(int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, port);
        // Binding the port again after Cut must not wait for connections in TIME_WAIT.
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress,
            true);
        listener.Start();
        return listener;
    }

    /// <summary>Makes the listener current and serves it. The caller holds the lock, or is
    /// the only user so far.</summary>
    private void Accept(TcpListener listener)
    {
        _listener = listener;
        _ = AcceptLoopAsync(listener);
    }

    private async Task AcceptLoopAsync(TcpListener listener)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException
                                          or InvalidOperationException)
            {
                // Cut stopped this listener.
                return;
            }

            _ = ForwardAsync(listener, client);
        }
    }

    private async Task ForwardAsync(TcpListener listener, Socket client)
    {
        var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await server.ConnectAsync(_target);
        }
        catch (SocketException)
        {
            Reset(client);
            Reset(server);
            return;
        }

        lock (_lock)
        {
            if (_listener != listener)
            {
                // Cut ran while this connection was being set up.
                Reset(client);
                Reset(server);
                return;
            }

            _open.Add(client);
            _open.Add(server);
        }

        await Task.WhenAny(PumpAsync(client, server), PumpAsync(server, client));
        lock (_lock)
        {
            _open.Remove(client);
            _open.Remove(server);
        }

        client.Dispose();
        server.Dispose();
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        await using var source = new NetworkStream(from, ownsSocket: false);
        await using var sink = new NetworkStream(to, ownsSocket: false);
        try
        {
            await source.CopyToAsync(sink);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // The other side closed or Cut reset the connection.
        }
    }

    /// <summary>Closes the socket with a TCP reset, as a crashed server or a dropped network
    /// path does, rather than with an orderly shutdown.</summary>
    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }

        socket.Dispose();
    }
}
