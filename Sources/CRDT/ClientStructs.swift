/// The structs of one client, sorted by clock, addressed by a dense index
/// (0 is the client's first struct).
///
/// Stored as a list of short chunks rather than one array: splitting an
/// item inserts a struct in the middle of its client's list and merging
/// removes one, and in one flat array each of those would move half of a
/// large document's pointers. A chunk holds
/// at most ``maxChunk`` structs, so an insertion or removal moves at most
/// that many plus one start offset per chunk.
///
/// A class, so that the store hands out the list and callers grow, split and
/// merge in place.
final class ClientStructs {
    /// Chunks in clock order; none is empty.
    @exclusivity(unchecked) private var chunks: [ContiguousArray<Item>] = []
    /// The index of each chunk's first struct.
    @exclusivity(unchecked) private var starts: [Int] = []
    /// The chunk of the last lookup: edits and merges stay near each other.
    @exclusivity(unchecked) private var hint = 0
    /// The number of structs.
    @exclusivity(unchecked) private(set) var count = 0
    /// The clock after the last struct (the client's state). Kept here
    /// because it is asked for on every edit and integration, and reading it
    /// through `last` retains the item each time. Only appending moves it:
    /// splits and merges keep the covered range.
    @exclusivity(unchecked) var endClock = 0

    static let maxChunk = 256

    var isEmpty: Bool { count == 0 }
    var first: Item? { chunks.first?.first }
    var last: Item? { chunks.last?.last }

    /// The chunk holding index `i` and the offset inside it.
    @inline(__always) private func locate(_ i: Int) -> (chunk: Int, offset: Int) {
        let h = hint
        if h < chunks.count {
            let s = starts[h]
            if i >= s && i < s + chunks[h].count { return (h, i - s) }
        }
        var lo = 0
        var hi = chunks.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) >> 1
            if starts[mid] <= i { lo = mid } else { hi = mid - 1 }
        }
        hint = lo
        return (lo, i - starts[lo])
    }

    subscript(i: Int) -> Item {
        get {
            let (c, k) = locate(i)
            return chunks[c][k]
        }
        set {
            let (c, k) = locate(i)
            chunks[c][k] = newValue
        }
    }

    /// The struct at `i`, or nil when out of bounds.
    subscript(safe i: Int) -> Item? { i >= 0 && i < count ? self[i] : nil }

    func append(_ item: Item) {
        if let c = chunks.indices.last, chunks[c].count < Self.maxChunk {
            chunks[c].append(item)
        } else {
            // A client that filled a chunk has many structs: later chunks are
            // allocated at full size at once (appending is how most fill, and
            // doubling left the last one up to half empty). The first grows as
            // needed, since most clients of a document write a few structs.
            var chunk = ContiguousArray<Item>()
            if !chunks.isEmpty { chunk.reserveCapacity(Self.maxChunk) }
            chunk.append(item)
            starts.append(count)
            chunks.append(chunk)
        }
        count += 1
    }

    func insert(_ item: Item, at i: Int) {
        guard i < count else { return append(item) }
        let (c, k) = locate(i)
        chunks[c].insert(item, at: k)
        shiftStarts(after: c, by: 1)
        count += 1
        if chunks[c].count > Self.maxChunk {
            let half = chunks[c].count / 2
            let tail = ContiguousArray(chunks[c][half...])
            chunks[c].removeSubrange(half...)
            chunks.insert(tail, at: c + 1)
            starts.insert(starts[c] + half, at: c + 1)
        }
    }

    /// Removes the structs at indices `range`.
    func removeSubrange(_ range: ClosedRange<Int>) {
        var remaining = range.count
        while remaining > 0 {
            let (c, k) = locate(range.lowerBound)
            let n = min(remaining, chunks[c].count - k)
            if k + n == chunks[c].count && k > 0 {
                chunks[c].removeLast(n)
            } else {
                chunks[c].removeSubrange(k..<(k + n))
            }
            shiftStarts(after: c, by: -n)
            count -= n
            remaining -= n
            if chunks[c].isEmpty {
                chunks.remove(at: c)
                starts.remove(at: c)
            } else if c + 1 < chunks.count, chunks[c].count + chunks[c + 1].count <= Self.maxChunk / 2 {
                // Keep chunks from thinning out after many merges.
                let next = chunks.remove(at: c + 1)
                starts.remove(at: c + 1)
                chunks[c].append(contentsOf: next)
            }
        }
    }

    @inline(__always) private func shiftStarts(after c: Int, by delta: Int) {
        var j = c + 1
        while j < starts.count {
            starts[j] += delta
            j += 1
        }
    }

    /// Index of the struct containing `clock`; the caller guarantees it
    /// exists (otherwise the nearest index, or 0 when empty).
    func findIndex(_ clock: Int) -> Int {
        guard let lastChunk = chunks.last, let lastItem = lastChunk.last else { return 0 }
        if lastItem.id.clock <= clock { return count - 1 }
        // The chunk: the last whose first struct starts at or before `clock`.
        var c: Int
        let h = hint
        if h < chunks.count, chunks[h][0].id.clock <= clock,
           h + 1 == chunks.count || chunks[h + 1][0].id.clock > clock {
            c = h
        } else {
            var lo = 0
            var hi = chunks.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) >> 1
                if chunks[mid][0].id.clock <= clock { lo = mid } else { hi = mid - 1 }
            }
            c = lo
            hint = c
        }
        let offset = chunks[c].withUnsafeBufferPointer { Self.findIndex(in: $0, clock) }
        return starts[c] + offset
    }

    /// Binary search with an interpolation guess first: clocks are dense.
    private static func findIndex(in structs: UnsafeBufferPointer<Item>, _ clock: Int) -> Int {
        var lo = 0
        var hi = structs.count - 1
        let first = structs[0], lastItem = structs[hi]
        let span = lastItem.id.clock + lastItem.length - first.id.clock
        if span > 0 {
            let guess = max(0, min(hi, Int((Double(clock - first.id.clock) / Double(span)) * Double(structs.count))))
            let g = structs[guess]
            if g.id.clock <= clock {
                if clock < g.id.clock + g.length { return guess }
                lo = guess + 1
            } else {
                hi = guess - 1
            }
        }
        while lo <= hi {
            let mid = (lo + hi) >> 1
            let s = structs[mid]
            if s.id.clock <= clock {
                if clock < s.id.clock + s.length { return mid }
                lo = mid + 1
            } else {
                hi = mid - 1
            }
        }
        return max(0, min(lo, structs.count - 1))
    }

    /// Calls `body` with every struct from index `start` on, without
    /// retaining them: the list keeps each alive, and retaining touches a
    /// cold item's cache line once more for nothing.
    func forEachUnretained(from start: Int = 0, _ body: (Item) -> Void) {
        guard start < count else { return }
        var (c, k) = locate(start)
        while c < chunks.count {
            chunks[c].withUnsafeBufferPointer { buffer in
                var i = k
                while i < buffer.count {
                    Unmanaged.passUnretained(buffer[i])._withUnsafeGuaranteedRef { body($0) }
                    i += 1
                }
            }
            k = 0
            c += 1
        }
    }

    /// Like ``forEachUnretained(from:_:)``, but first calls `warm` on a few
    /// structs ahead of `body`. A cheap `warm` that reads the fields `body`
    /// will read has many cache misses in flight at once, where a long `body`
    /// takes them one after another.
    func forEachUnretained(from start: Int = 0, warming warm: (Item) -> Int, _ body: (Item) -> Void) {
        guard start < count else { return }
        var (c, k) = locate(start)
        var sink = 0
        while c < chunks.count {
            chunks[c].withUnsafeBufferPointer { buffer in
                var i = k
                while i < buffer.count {
                    let end = min(i + Self.warmBatch, buffer.count)
                    for j in i..<end {
                        sink &+= Unmanaged.passUnretained(buffer[j])._withUnsafeGuaranteedRef { warm($0) }
                    }
                    for j in i..<end {
                        Unmanaged.passUnretained(buffer[j])._withUnsafeGuaranteedRef { body($0) }
                    }
                    i = end
                }
            }
            k = 0
            c += 1
        }
        // Stored so that the reads in `warm` are not optimized away.
        warmSink = sink
    }

    private static let warmBatch = 16
    @exclusivity(unchecked) private var warmSink = 0

    /// Every struct, in clock order.
    var all: FlattenSequence<[ContiguousArray<Item>]> { chunks.joined() }
}
