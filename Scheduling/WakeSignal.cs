using System.Threading.Channels;

namespace JobScheduler.Scheduling;

/// <summary>
/// Wakes the scheduler loop before its next poll: a job was added or finished, a slot freed, or
/// the database sent a notification. Any number of signals while the loop is busy fold into one
/// wake-up. With WAKEUPS=false the loop still wakes to write results, but claims only on polls.
/// </summary>
public sealed class WakeSignal
{
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Signal() => _channel.Writer.TryWrite(true);

    /// <summary>Completes at the next signal, or at once if one is pending, and consumes it.
    /// </summary>
    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        await _channel.Reader.ReadAsync(cancellationToken);
    }
}
