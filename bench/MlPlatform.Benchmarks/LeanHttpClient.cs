using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MlPlatform.Benchmarks;

/// <summary>
/// A load generator in the manner of wrk: keep-alive HTTP/1.1 connections, each sending a request
/// prepared once as bytes, driven by one thread. On a 2-core machine the load generator shares the
/// cores with the server it measures; this one spends a poll, a send and a receive per request and
/// nothing else (no thread-pool hop, no header objects), so what the measurement shows is the
/// server's cost, not HttpClient's.
/// </summary>
public sealed class LeanHttpClient(IPEndPoint server, string authorization) : IDisposable
{
    private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(30);

    private readonly List<Connection> _connections = [];

    /// <summary>
    /// Closed loop: <paramref name="clients"/> connections, each sending its next request when its
    /// last answer has arrived, for <paramref name="duration"/>. One thread drives them all through
    /// poll(2), as wrk does, so answers that arrive together are taken in one wake-up instead of one
    /// thread switch each. Connections are kept across calls.
    /// </summary>
    public PredictBenchmark.Measurement Post(string path, byte[] body, int clients, TimeSpan duration)
    {
        while (_connections.Count < clients)
        {
            _connections.Add(new Connection(server));
        }

        // One left idle since an earlier call may have been closed by the server's keep-alive timeout.
        for (var i = 0; i < clients; i++)
        {
            if (_connections[i].IdleFor > TimeSpan.FromSeconds(30))
            {
                _connections[i].Dispose();
                _connections[i] = new Connection(server);
            }
        }

        var request = Request(path, body);
        var latencies = new List<double>(100_000);
        long errors = 0;
        var active = _connections.Take(clients).ToDictionary(c => c.Socket);
        var started = new Dictionary<Socket, long>(clients);
        var readable = new List<Socket>(clients);
        var stopwatch = Stopwatch.StartNew();
        foreach (var connection in active.Values)
        {
            started[connection.Socket] = Stopwatch.GetTimestamp();
            connection.Send(request);
        }

        while (active.Count > 0)
        {
            readable.Clear();
            readable.AddRange(active.Keys);
            Socket.Select(readable, null, null, (int)StallTimeout.TotalMicroseconds);
            if (readable.Count == 0)
            {
                throw new TimeoutException($"No answer from the server for {StallTimeout.TotalSeconds:0} s.");
            }

            foreach (var socket in readable)
            {
                var connection = active[socket];
                if (!connection.Receive())
                {
                    continue;
                }

                latencies.Add(Stopwatch.GetElapsedTime(started[socket]).TotalMicroseconds);
                if (connection.Status != 200)
                {
                    errors++;
                }

                if (stopwatch.Elapsed < duration)
                {
                    started[socket] = Stopwatch.GetTimestamp();
                    connection.Send(request);
                }
                else
                {
                    // Its last answer is in: the connection stays open, idle, for the next call.
                    active.Remove(socket);
                }
            }
        }

        var sorted = latencies.Order().ToArray();
        double P(double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
        return new PredictBenchmark.Measurement(sorted.Length, stopwatch.Elapsed, P(0.50), P(0.95), P(0.99), errors, sorted);
    }

    public void Dispose() => _connections.ForEach(c => c.Dispose());

    private byte[] Request(string path, byte[] body)
    {
        var head = Encoding.ASCII.GetBytes(
            $"POST {path} HTTP/1.1\r\nHost: {server}\r\nAuthorization: {authorization}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n");
        return [.. head, .. body];
    }

    private sealed class Connection : IDisposable
    {
        private static readonly byte[] HeaderEnd = "\r\n\r\n"u8.ToArray();
        private static readonly byte[] ContentLength = "\r\ncontent-length:"u8.ToArray();
        private readonly Socket _socket;
        private byte[] _buffer = new byte[64 * 1024];
        private int _filled;
        private int _total = -1;
        private long _used = Stopwatch.GetTimestamp();

        public Connection(IPEndPoint server)
        {
            _socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            _socket.Connect(server);
        }

        public Socket Socket => _socket;

        public TimeSpan IdleFor => Stopwatch.GetElapsedTime(_used);

        /// <summary>The status of the last answer read whole.</summary>
        public int Status { get; private set; }

        public void Send(byte[] request)
        {
            _filled = 0;
            _total = -1;
            _socket.Send(request);
        }

        /// <summary>Reads what has arrived of the answer; true once it is whole (its status in <see cref="Status"/>).</summary>
        public bool Receive()
        {
            var read = _socket.Receive(_buffer, _filled, _buffer.Length - _filled, SocketFlags.None);
            _filled += read > 0 ? read : throw new IOException("The server closed the connection.");
            _used = Stopwatch.GetTimestamp();
            if (_total < 0)
            {
                var headerLength = _buffer.AsSpan(0, _filled).IndexOf(HeaderEnd);
                if (headerLength < 0)
                {
                    return false;
                }

                headerLength += HeaderEnd.Length;
                var header = _buffer.AsSpan(0, headerLength);
                // "HTTP/1.1 200 OK": the status is the three digits after the first space.
                Status = Utf8Parser.TryParse(header[9..12], out int status, out _) ? status : throw new InvalidDataException("The answer has no status line.");
                _total = headerLength + BodyLength(header);
                if (_total > _buffer.Length)
                {
                    Array.Resize(ref _buffer, _total);
                }
            }

            return _filled >= _total;
        }

        public void Dispose() => _socket.Dispose();

        private static int BodyLength(ReadOnlySpan<byte> header)
        {
            // Header names are case-insensitive; the server's are lower-cased here before the search.
            Span<byte> lower = header.Length <= 1024 ? stackalloc byte[header.Length] : new byte[header.Length];
            for (var i = 0; i < header.Length; i++)
            {
                lower[i] = header[i] is >= (byte)'A' and <= (byte)'Z' ? (byte)(header[i] | 0x20) : header[i];
            }

            var at = lower.IndexOf(ContentLength);
            if (at < 0)
            {
                throw new InvalidDataException("The answer has no Content-Length (this client reads no chunked answers).");
            }

            var value = lower[(at + ContentLength.Length)..].TrimStart((byte)' ');
            return Utf8Parser.TryParse(value, out int length, out _) ? length : throw new InvalidDataException("The answer's Content-Length is not a number.");
        }
    }
}
