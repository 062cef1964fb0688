using System.Text;

namespace JobScheduler.Scheduling;

/// <summary>
/// The last bytes a job wrote to stdout and stderr, in arrival order, in a fixed-size ring, so a
/// job that prints gigabytes costs the daemon no more memory than one that prints a line.
/// </summary>
public sealed class OutputTail(int capacityBytes)
{
    private readonly byte[] _ring = new byte[capacityBytes];
    private readonly Lock _lock = new();
    private long _total;

    public long TotalBytes
    {
        get
        {
            lock (_lock)
            {
                return _total;
            }
        }
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            _total += data.Length;
            if (data.Length > _ring.Length)
            {
                data = data[^_ring.Length..];
            }

            var start = (int)((_total - data.Length) % _ring.Length);
            var first = Math.Min(data.Length, _ring.Length - start);
            data[..first].CopyTo(_ring.AsSpan(start));
            data[first..].CopyTo(_ring);
        }
    }

    /// <summary>
    /// Decodes the kept bytes as UTF-8 for storage: invalid sequences become U+FFFD and NUL
    /// bytes, which PostgreSQL text cannot hold, become U+2400. When earlier output was dropped
    /// the text starts with a line that gives how much.
    /// </summary>
    public string ToText()
    {
        byte[] kept;
        long total;
        lock (_lock)
        {
            total = _total;
            var length = (int)Math.Min(_total, _ring.Length);
            kept = new byte[length];
            var start = (int)((_total - length) % _ring.Length);
            var first = Math.Min(length, _ring.Length - start);
            _ring.AsSpan(start, first).CopyTo(kept);
            _ring.AsSpan(0, length - first).CopyTo(kept.AsSpan(first));
        }

        var text = Encoding.UTF8.GetString(kept).Replace('\0', '\u2400');
        var dropped = total - kept.Length;
        return dropped > 0
            ? $"[output cut: the first {dropped} of {total} bytes were dropped]\n{text}"
            : text;
    }
}
