using System.Buffers;

namespace OmniStore.Internal;

/// <summary>
/// A <see cref="Memory{T}"/> over memory the caller has pinned (a <c>fixed</c> span or a native
/// buffer). The owner guarantees the memory outlives every use of <see cref="Memory{T}"/>: it is
/// used only inside synchronous calls.
/// </summary>
internal sealed unsafe class PointerMemoryManager(byte* pointer, int length) : MemoryManager<byte>
{
    public override Span<byte> GetSpan() => new(pointer, length);

    public override MemoryHandle Pin(int elementIndex = 0) => new(pointer + elementIndex);

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
    }
}
