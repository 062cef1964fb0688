using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace JobScheduler.Bench;

/// <summary>
/// A TCP proxy on loopback between the daemon and PostgreSQL that counts round trips: each time
/// a client sends bytes after the server has sent bytes since the client's last send, the client
/// has waited for a response, and that is one round trip. Statements that a client pipelines
/// (an Npgsql batch, a BEGIN sent with the first statement) therefore count once, which a count
/// of statements cannot show. The connection that sends LISTEN is counted apart.
/// </summary>
public sealed class RoundTripProxy : IAsyncDisposable
{
    private static readonly byte[] ListenBytes = Encoding.ASCII.GetBytes("LISTEN ");

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _upstreamHost;
    private readonly int _upstreamPort;
    private readonly ConcurrentBag<Connection> _connections = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public RoundTripProxy(string upstreamHost, int upstreamPort)
    {
        _upstreamHost = upstreamHost;
        _upstreamPort = upstreamPort;
        _listener.Start();
        _accepting = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Round trips so far on all connections, apart from the listening ones, and the
    /// number of connections opened.</summary>
    public Counts Read()
    {
        long queries = 0, listening = 0;
        var connections = 0;
        foreach (var connection in _connections)
        {
            connections++;
            var trips = Interlocked.Read(ref connection.RoundTrips);
            if (connection.IsListener)
            {
                listening += trips;
            }
            else
            {
                queries += trips;
            }
        }

        return new Counts(queries, listening, connections);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception e)
            when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        foreach (var connection in _connections)
        {
            connection.Close();
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            var upstream = new TcpClient { NoDelay = true };
            await upstream.ConnectAsync(_upstreamHost, _upstreamPort, _stop.Token);
            client.NoDelay = true;
            var connection = new Connection(client, upstream);
            _connections.Add(connection);
            _ = connection.RunAsync();
        }
    }

    public readonly record struct Counts(long RoundTrips, long ListenerRoundTrips, int Connections)
    {
        public static Counts operator -(Counts after, Counts before) =>
            new(after.RoundTrips - before.RoundTrips,
                after.ListenerRoundTrips - before.ListenerRoundTrips,
                after.Connections - before.Connections);
    }

    private sealed class Connection(TcpClient client, TcpClient upstream)
    {
        public long RoundTrips;

        public volatile bool IsListener;

        // 1 when the server has sent bytes since the client's last send. It starts at 1, so the
        // first message of a connection is a round trip too.
        private int _serverSpoke = 1;

        public async Task RunAsync()
        {
            try
            {
                await Task.WhenAll(ClientToServerAsync(), ServerToClientAsync());
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                // One side closed; the other pump ends with it.
            }
            finally
            {
                Close();
            }
        }

        public void Close()
        {
            client.Dispose();
            upstream.Dispose();
        }

        private async Task ClientToServerAsync()
        {
            var from = client.GetStream();
            var to = upstream.GetStream();
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await from.ReadAsync(buffer)) > 0)
            {
                if (Interlocked.Exchange(ref _serverSpoke, 0) == 1)
                {
                    Interlocked.Increment(ref RoundTrips);
                }

                if (!IsListener && buffer.AsSpan(0, read).IndexOf(ListenBytes) >= 0)
                {
                    IsListener = true;
                }

                await to.WriteAsync(buffer.AsMemory(0, read));
            }

            upstream.Client.Shutdown(SocketShutdown.Send);
        }

        private async Task ServerToClientAsync()
        {
            var from = upstream.GetStream();
            var to = client.GetStream();
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await from.ReadAsync(buffer)) > 0)
            {
                // Set before the bytes reach the client, so that it is already set when the
                // client sends its next message, which may depend on these bytes.
                Volatile.Write(ref _serverSpoke, 1);
                await to.WriteAsync(buffer.AsMemory(0, read));
            }

            client.Client.Shutdown(SocketShutdown.Send);
        }
    }
}
