// An order-statistic index over a sequence's item list, so that finding the
// item at a visible position costs O(log n + B) instead of a walk from the
// head: the list is cut into runs ("blocks") of at most `maxCount`
// consecutive items, each knowing its first item, its item count and its
// visible length; a Fenwick tree over the blocks' visible lengths finds the
// block holding a position. Items never move in a YATA list, so blocks only
// grow (and split), shrink on merges, and vanish when empty.

/// A run of consecutive items of one sequence.
final class SequenceBlock {
    /// The first item of the run, in list order.
    @exclusivity(unchecked) unowned(unsafe) var first: Item
    /// Number of items in the run.
    @exclusivity(unchecked) var count: Int
    /// Sum of the visible lengths of the run's items.
    @exclusivity(unchecked) var visible: Int
    /// Position of this block in its index's `blocks`.
    @exclusivity(unchecked) var position: Int

    init(first: Item, count: Int, visible: Int, position: Int) {
        self.first = first
        self.count = count
        self.visible = visible
        self.position = position
    }
}

/// The blocks of one sequence plus a Fenwick tree over their visible lengths.
struct SequenceIndex {
    static let maxCount = 32

    private(set) var blocks: [SequenceBlock] = []
    private var tree: [Int] = [0]
    /// The block of the last lookup and the visible units before it. Typing
    /// and backspacing look up the same block again and again; keeping the
    /// units before it current costs a comparison per change, where the tree
    /// search costs a dozen steps per lookup. Cleared when blocks move.
    private var lastBlock: SequenceBlock?
    private var lastBefore = 0

    var isEmpty: Bool { blocks.isEmpty }

    mutating func removeAll() {
        blocks.removeAll()
        tree = [0]
        lastBlock = nil
    }

    // MARK: Fenwick tree

    /// Renumbers blocks from `position` on and rebuilds the tree in linear
    /// time (each node passes its sum on to its parent once).
    private mutating func rebuild(from position: Int = 0) {
        lastBlock = nil
        let n = blocks.count
        for i in position..<n { blocks[i].position = i }
        tree = [Int](repeating: 0, count: n + 1)
        guard n > 0 else { return }
        for i in 1...n {
            tree[i] += blocks[i - 1].visible
            let parent = i + (i & -i)
            if parent <= n { tree[parent] += tree[i] }
        }
    }

    private mutating func addVisible(_ block: SequenceBlock, _ delta: Int) {
        guard delta != 0 else { return }
        block.visible += delta
        if let last = lastBlock, block.position < last.position { lastBefore += delta }
        var j = block.position + 1
        while j < tree.count {
            tree[j] += delta
            j += j & -j
        }
    }

    /// The block holding visible unit `unit`, and the visible units before it.
    private mutating func block(containing unit: Int) -> (SequenceBlock, Int)? {
        if let last = lastBlock, unit >= lastBefore, unit < lastBefore + last.visible { return (last, lastBefore) }
        guard let (block, before) = searchBlock(containing: unit) else { return nil }
        lastBlock = block
        lastBefore = before
        return (block, before)
    }

    /// ``block(containing:)`` through the tree.
    private func searchBlock(containing unit: Int) -> (SequenceBlock, Int)? {
        var pos = 0
        var remaining = unit
        var step = 1
        while step * 2 < tree.count { step *= 2 }
        while step > 0 {
            let next = pos + step
            if next < tree.count && tree[next] <= remaining {
                pos = next
                remaining -= tree[next]
            }
            step /= 2
        }
        guard pos < blocks.count else { return nil }
        return (blocks[pos], unit - remaining)
    }

    // MARK: Lookup

    /// The visible item holding visible unit `unit` (0-based) and the offset
    /// of that unit inside it, or nil past the end.
    mutating func item(containing unit: Int) -> (item: Item, offset: Int)? {
        guard unit >= 0, let (block, before) = block(containing: unit) else { return nil }
        var remaining = unit - before
        // Unmanaged walk: the list keeps its items alive, and a strong cursor
        // would retain and release every item passed.
        var cursor = Unmanaged.passUnretained(block.first)
        while true {
            let (visible, length, next) = cursor._withUnsafeGuaranteedRef { x in
                (x.isVisible, x.length, x.right.map { Unmanaged.passUnretained($0) })
            }
            if visible {
                if remaining < length { return (cursor.takeUnretainedValue(), remaining) }
                remaining -= length
            }
            guard let next else { return nil }
            cursor = next
        }
    }

    /// The last item of the list.
    func lastItem() -> Item? {
        guard var n = blocks.last?.first else { return nil }
        while let r = n.right { n = r }
        return n
    }

    // MARK: Maintenance

    /// Records an item just linked into the list.
    mutating func inserted(_ item: Item) {
        let visible = item.isVisible ? item.length : 0
        let block: SequenceBlock
        if let l = item.left, let b = l.block {
            block = b
        } else if let r = item.right, let b = r.block {
            block = b
            if b.first === r { b.first = item }
        } else {
            block = SequenceBlock(first: item, count: 0, visible: 0, position: 0)
            blocks.insert(block, at: 0)
            rebuild()
        }
        item.block = block
        block.count += 1
        addVisible(block, visible)
        if block.count > Self.maxCount { split(block) }
    }

    /// Records a change of an item's visible length (deletion).
    mutating func visibleChanged(_ item: Item, by delta: Int) {
        if let b = item.block { addVisible(b, delta) }
    }

    /// Records that `right` was split off `left` (same visibility, same block).
    mutating func didSplit(_ left: Item, _ right: Item) {
        guard let b = left.block else { return }
        right.block = b
        b.count += 1
        if b.count > Self.maxCount { split(b) }
    }

    /// Records that `right` is about to be merged into `left`.
    mutating func willMerge(_ left: Item, _ right: Item) {
        guard let rb = right.block else { return }
        if let lb = left.block, lb === rb {
            rb.count -= 1
            return
        }
        rb.count -= 1
        if right.isVisible {
            addVisible(rb, -right.length)
            if let lb = left.block { addVisible(lb, right.length) }
        }
        if rb.count == 0 {
            remove(rb)
        } else if rb.first === right, let next = right.right {
            rb.first = next
        }
    }

    private mutating func remove(_ block: SequenceBlock) {
        let p = block.position
        blocks.remove(at: p)
        rebuild(from: p)
    }

    private mutating func split(_ block: SequenceBlock) {
        let half = block.count / 2
        var n = block.first
        var visible = 0
        for _ in 0..<half {
            if n.isVisible { visible += n.length }
            guard let r = n.right else { return }
            n = r
        }
        let second = SequenceBlock(first: n, count: block.count - half, visible: block.visible - visible, position: block.position + 1)
        var m: Item? = n
        for _ in 0..<second.count {
            guard let x = m else { break }
            x.block = second
            m = x.right
        }
        block.count = half
        block.visible = visible
        blocks.insert(second, at: block.position + 1)
        rebuild(from: block.position + 1)
    }
}

extension SequenceIndex {
    /// Checks the index against the list it describes; returns what is wrong.
    /// For tests: walks the whole list.
    func inconsistency(start: Item?) -> String? {
        var n = start
        var blockIndex = 0
        var total = 0
        while let first = n {
            guard blockIndex < blocks.count else { return "items after the last block" }
            let b = blocks[blockIndex]
            if b.first !== first { return "block \(blockIndex) does not start at \(first.id)" }
            if b.position != blockIndex { return "block \(blockIndex) has position \(b.position)" }
            var count = 0
            var visible = 0
            var x: Item? = first
            while let item = x, count < b.count {
                if item.block !== b { return "item \(item.id) points to another block than \(blockIndex)" }
                if item.isVisible { visible += item.length }
                count += 1
                x = item.right
            }
            if count != b.count { return "block \(blockIndex) counts \(b.count) items, has \(count)" }
            if visible != b.visible { return "block \(blockIndex) has visible \(b.visible), items sum to \(visible)" }
            total += visible
            if let (found, _) = searchBlock(containing: max(total - 1, 0)), visible > 0, found !== b {
                return "Fenwick tree does not find block \(blockIndex)"
            }
            n = x
            blockIndex += 1
        }
        if blockIndex != blocks.count { return "\(blocks.count - blockIndex) blocks past the end" }
        if let last = lastBlock {
            guard last.position < blocks.count, blocks[last.position] === last else { return "the last block looked up is not in the index" }
            let before = blocks[..<last.position].reduce(0) { $0 + $1.visible }
            if before != lastBefore { return "the last block looked up has \(before) units before it, not \(lastBefore)" }
        }
        return nil
    }
}

extension Branch {
    /// For tests: what is wrong with the sequence index, if anything.
    var indexInconsistency: String? { index.inconsistency(start: start) }
}
