using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using OmniStore.Lab.Internal;

namespace OmniStore.Lab.Wire;

/// <summary>
/// One direction of a wire: reads the packets one TUN device transmits and writes them into the
/// other, after dropping some (loss), marking some to go out twice (duplication), holding some back
/// longer than the rest (reordering) and holding the rest until their release time (delay and
/// jitter). It runs on a thread of its own and allocates nothing per packet: packets are read
/// straight into the delay queue's slots, and with no delay, jitter, loss or reordering they go out
/// from there at once without being queued.
/// </summary>
/// <remarks>
/// Per packet, in this order: loss (dropped: nothing else happens), duplication, reordering, then
/// delay and jitter. Each is one draw from the seeded generator, made only when its probability is
/// not zero, so a link without duplication or reordering draws exactly as it did before they
/// existed. A packet chosen for reordering is copied into a second queue with its release time plus
/// the reorder delay; the packets behind it keep their own release times, so whatever arrives within
/// the reorder delay leaves before it. Both queues are FIFOs ordered by release time, and the pump
/// releases from whichever is due first.
/// </remarks>
internal sealed unsafe class WirePump
{
    /// <summary>At most this many packets are read in a row before due packets are released, so a flood cannot delay releases.</summary>
    private const int ReadBurst = 64;

    /// <summary>At most this many packets in flight count as sparse traffic, whose releases are timed by spinning.</summary>
    private const int SparseQueue = 8;

    /// <summary>Upper bound of the learned wake-up latency, and so of one spin.</summary>
    private const long MaxWakeLatency = 500_000;

    private readonly int _input;
    private readonly int _output;
    private readonly DelayQueue _queue;
    private readonly int _queueCapacity;
    private readonly byte[] _overflowSlot = GC.AllocateUninitializedArray<byte>(DelayQueue.SlotSize, pinned: true);
    private WireConditions _conditions = WireConditions.Transparent;
    private SplitMix64 _random = new(1);

    /// <summary>The packets reordering holds back; made when a link first reorders.</summary>
    private DelayQueue? _held;
    private long _lastRelease;
    private long _wakeLatency = 100_000;

    private long _forwarded;
    private long _forwardedBytes;
    private long _lost;
    private long _duplicated;
    private long _reordered;
    private long _overflowed;
    private long _errors;
    private long _releases;
    private long _latenessSum;
    private long _latenessMax;

    public WirePump(string name, int inputFd, int outputFd, int queueCapacity)
    {
        Name = name;
        _input = inputFd;
        _output = outputFd;
        _queue = new DelayQueue(queueCapacity);
        _queueCapacity = queueCapacity;
    }

    public string Name { get; }

    /// <summary>Set when the pump stopped because a device went away or failed; null while it runs.</summary>
    public string? StopReason { get; private set; }

    /// <summary>Takes effect for the next packet read; packets already queued keep their release times.</summary>
    public void SetConditions(WireConditions conditions) => Volatile.Write(ref _conditions, conditions);

    public string Statistics() =>
        $"{Name} forwarded={Volatile.Read(ref _forwarded)} bytes={Volatile.Read(ref _forwardedBytes)} lost={Volatile.Read(ref _lost)} " +
        $"duplicated={Volatile.Read(ref _duplicated)} reordered={Volatile.Read(ref _reordered)} " +
        $"overflowed={Volatile.Read(ref _overflowed)} errors={Volatile.Read(ref _errors)} queued={_queue.Count + (_held?.Count ?? 0)} " +
        $"late_mean_us={Volatile.Read(ref _latenessSum) / 1000.0 / Math.Max(1, Volatile.Read(ref _releases)):F1} late_max_us={Volatile.Read(ref _latenessMax) / 1000.0:F1}";

    public Thread Start()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = $"wire {Name}" };
        thread.Start();
        return thread;
    }

    private void Run()
    {
        // Default timer slack (50 µs) would be added to every timed wait; the delay must stay exact.
        Libc.Prctl(Libc.PR_SET_TIMERSLACK, 1, 0, 0, 0);
        try
        {
            Loop();
        }
        catch (IOException e)
        {
            StopReason = e.Message;
        }
    }

    private void Loop()
    {
        WireConditions? seeded = null;
        while (true)
        {
            ReleaseDue(MonotonicClock.Nanoseconds());

            var conditions = Volatile.Read(ref _conditions);
            if (!ReferenceEquals(conditions, seeded))
            {
                if (seeded is null || conditions.Seed != seeded.Seed)
                {
                    _random = new SplitMix64(conditions.Seed);
                }

                seeded = conditions;
            }

            var read = 0;
            while (read < ReadBurst)
            {
                // A full queue still reads (the packet is then dropped), or the device's own queue would fill instead.
                var slot = _queue.IsFull ? null : _queue.TailSlot;
                var buffer = slot is null ? (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_overflowSlot)) : slot;

                var length = Libc.Read(_input, buffer, DelayQueue.SlotSize);
                if (length < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EAGAIN)
                    {
                        break;
                    }

                    if (errno == Libc.EINTR)
                    {
                        continue;
                    }

                    throw new IOException($"read: {Libc.ErrorText(errno)}");
                }

                read++;
                Admit(buffer, (int)length, conditions, slot is not null);
            }

            if (read == ReadBurst)
            {
                continue;
            }

            Wait();
        }
    }

    private void Admit(byte* packet, int length, WireConditions conditions, bool inQueueSlot)
    {
        if (length >= DelayQueue.SlotSize)
        {
            Volatile.Write(ref _errors, _errors + 1);
            return;
        }

        if (conditions.LossThreshold != 0 && _random.Next() < conditions.LossThreshold)
        {
            Volatile.Write(ref _lost, _lost + 1);
            return;
        }

        var copies = 1;
        if (conditions.DuplicateThreshold != 0 && _random.Next() < conditions.DuplicateThreshold)
        {
            copies = 2;
            Volatile.Write(ref _duplicated, _duplicated + 1);
        }

        if (conditions.ReorderThreshold != 0 && _random.Next() < conditions.ReorderThreshold)
        {
            HoldBack(packet, length, copies, conditions);
            return;
        }

        if (conditions.DelayNanoseconds == 0 && conditions.JitterNanoseconds == 0 && _queue.Count == 0)
        {
            Send(packet, length);
            if (copies == 2)
            {
                Send(packet, length);
            }

            return;
        }

        if (!inQueueSlot)
        {
            Volatile.Write(ref _overflowed, _overflowed + 1);
            return;
        }

        var release = ReleaseTime(conditions);
        _lastRelease = release;
        _queue.Commit(length, release, copies);
    }

    /// <summary>
    /// Reordering: the packet leaves the reorder delay after the time it would have left, and the
    /// packets behind it do not wait for it. It is copied out of the main queue's slot (or the
    /// overflow slot) into the held queue's: the one copy reordering costs.
    /// </summary>
    private void HoldBack(byte* packet, int length, int copies, WireConditions conditions)
    {
        var held = _held ??= new DelayQueue(_queueCapacity);
        var release = ReleaseTime(conditions) + conditions.ReorderDelayNanoseconds;
        if (held.IsFull)
        {
            Volatile.Write(ref _overflowed, _overflowed + 1);
            return;
        }

        Buffer.MemoryCopy(packet, held.TailSlot, DelayQueue.SlotSize, length);
        // Held packets keep their order among themselves (a shorter reorder delay set meanwhile cannot pass them).
        held.Commit(length, Math.Max(release, held.LastRelease), copies);
        Volatile.Write(ref _reordered, _reordered + 1);
    }

    /// <summary>Now plus the delay and a jitter draw, never below zero and never before the packet ahead: a WAN path jitters but does not reorder.</summary>
    private long ReleaseTime(WireConditions conditions)
    {
        var now = MonotonicClock.Nanoseconds();
        var delay = conditions.DelayNanoseconds;
        if (conditions.JitterNanoseconds > 0)
        {
            delay += (long)(((_random.NextDouble() * 2) - 1) * conditions.JitterNanoseconds);
        }

        return Math.Max(now + Math.Max(0, delay), _lastRelease);
    }

    /// <summary>Release time of the next packet due, from either queue, or <see cref="long.MaxValue"/> when both are empty.</summary>
    private long NextRelease => Math.Min(_queue.NextRelease, _held?.NextRelease ?? long.MaxValue);

    private int Queued => _queue.Count + (_held?.Count ?? 0);

    private void ReleaseDue(long now)
    {
        // Bounded: each pass removes a packet, and nothing is added meanwhile.
        while (NextRelease <= now)
        {
            // On a tie the main queue goes first: a held packet leaves no earlier than one that was not held.
            var queue = _held is { } held && held.NextRelease < _queue.NextRelease ? held : _queue;

            // How late the packet leaves (timer and scheduling latency): the error the wire adds to the configured delay.
            var lateness = now - queue.NextRelease;
            Volatile.Write(ref _releases, _releases + 1);
            Volatile.Write(ref _latenessSum, _latenessSum + lateness);
            if (lateness > _latenessMax)
            {
                Volatile.Write(ref _latenessMax, lateness);
            }

            for (var copy = 0; copy < queue.HeadCopies; copy++)
            {
                Send(queue.HeadSlot, queue.HeadLength);
            }

            queue.Dequeue();
        }
    }

    private void Send(byte* packet, int length)
    {
        while (true)
        {
            var written = Libc.Write(_output, packet, (nuint)length);
            if (written >= 0)
            {
                Volatile.Write(ref _forwarded, _forwarded + 1);
                Volatile.Write(ref _forwardedBytes, _forwardedBytes + length);
                return;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.EINTR)
            {
                continue;
            }

            if (errno == Libc.EBADFD)
            {
                throw new IOException($"write: {Libc.ErrorText(errno)}");
            }

            // EIO while the receiving device is down, EAGAIN when its backlog is full: the packet is
            // lost, as on a cable into a busy or unplugged port.
            Volatile.Write(ref _errors, _errors + 1);
            return;
        }
    }

    /// <summary>
    /// Sleeps until input arrives or the head packet is due. Waking from a timed sleep takes this
    /// machine a while (150-250 µs measured in a VM), which would add to every delay; with few packets
    /// in flight (probes, handshakes, requests, where a delay is measured) the pump therefore sleeps
    /// until the expected wake-up latency before the release and spins the rest. With many in flight
    /// (a bulk transfer) it sleeps to the release itself: spinning there would cost a core per busy
    /// direction, and a bulk flow's packets after the first are released on time from the queue.
    /// </summary>
    private void Wait()
    {
        var poll = new Libc.PollFd { Fd = _input, Events = Libc.POLLIN };
        var next = NextRelease;
        if (next == long.MaxValue)
        {
            Libc.PPoll(&poll, 1, null, null);
            return;
        }

        var sparse = Queued <= SparseQueue;
        var wake = sparse ? next - _wakeLatency : next;
        var now = MonotonicClock.Nanoseconds();
        if (wake > now)
        {
            var sleep = wake - now;
            var timeout = new Libc.TimeSpec { Seconds = sleep / 1_000_000_000, Nanoseconds = sleep % 1_000_000_000 };
            var ready = Libc.PPoll(&poll, 1, &timeout, null);
            now = MonotonicClock.Nanoseconds();
            if (ready == 0)
            {
                // Timed out: learn how late the wake-up was (moving average, bounded).
                var late = Math.Clamp(now - wake, 0, MaxWakeLatency);
                _wakeLatency += (late - _wakeLatency) / 8;
            }

            if (ready != 0 || !sparse)
            {
                return;
            }
        }

        var spin = new SpinWait();
        while (MonotonicClock.Nanoseconds() < next)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }
}
