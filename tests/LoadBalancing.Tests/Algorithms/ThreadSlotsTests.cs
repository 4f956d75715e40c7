using LoadBalancing.Internal;

namespace LoadBalancing.Tests.Algorithms;

public sealed class ThreadSlotsTests
{
    [Fact]
    public void Current_ThreadsAliveAtOnce_NeverOwnTheSameSlot()
    {
        const int threads = 8;
        var slots = new int[threads];
        using var allHaveOne = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            slots[t] = ThreadSlots.Current;
            Assert.Equal(slots[t], ThreadSlots.Current); // stable for the thread's life
            allHaveOne.SignalAndWait(); // nobody ends (and frees a slot) before all have one
        })).ToArray();
        RunAll(workers);

        var owned = slots.Where(s => s != ThreadSlots.Shared).ToArray();
        Assert.Equal(owned.Length, owned.Distinct().Count());
        Assert.All(owned, s => Assert.InRange(s, 0, ThreadSlots.Exclusive - 1));
    }

    [Fact]
    public void Current_ThreadsThatComeAndGo_DoNotUseTheSlotsUp()
    {
        // Far more short-lived threads than there are slots, one after another (as a thread pool
        // retires and creates threads): each ended thread's slot must come back, so the last thread
        // still owns one. Without the return every thread past the first Exclusive would share.
        var lastSlot = ThreadSlots.Shared;
        for (var i = 0; i < ThreadSlots.Exclusive * 3; i++)
        {
            var worker = new Thread(() => lastSlot = ThreadSlots.Current);
            RunAll([worker]);
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.NotEqual(ThreadSlots.Shared, lastSlot);
    }

    private static void RunAll(Thread[] workers)
    {
        foreach (var worker in workers)
        {
            worker.Start();
        }

        foreach (var worker in workers)
        {
            worker.Join();
        }
    }
}
