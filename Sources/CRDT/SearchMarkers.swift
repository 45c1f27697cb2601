// Cached sequence positions. A position lookup starts from the nearest
// marker instead of the list head, so edits near recent ones cost O(distance)
// instead of O(position). Markers are an accelerator only: every lookup gives
// the same item a walk from the head would, and remote changes drop them.

extension Branch {
    static let maxMarkers = 16

    /// The marker closest to `index`, or nil when walking from the head is no farther.
    func nearestMarker(_ index: Int) -> SearchMarker? {
        var best: SearchMarker?
        var bestDistance = index
        for m in markers {
            let d = abs(m.index - index)
            if d < bestDistance {
                best = m
                bestDistance = d
            }
        }
        guard var m = best else { return nil }
        // Walk the marker to the visible item containing `index`, so that the
        // next lookup nearby starts close.
        var item: Item? = m.item
        var idx = m.index
        while let x = item, idx + (x.isVisible ? x.length : 0) <= index, let r = x.right {
            if x.isVisible { idx += x.length }
            item = r
        }
        while let x = item, idx > index, let l = x.left {
            item = l
            if l.isVisible { idx -= l.length }
        }
        if let x = item, x !== m.item {
            // Move this marker rather than adding one.
            if let i = markers.firstIndex(where: { $0.item === m.item }) {
                let old = markers[i].item
                markers.remove(at: i)
                if !markers.contains(where: { $0.item === old }) { old.marker = false }
            }
            m.item = x
            m.index = idx
            remember(x, index: idx)
        } else if let x = item {
            m.index = idx
            remember(x, index: idx)
        }
        return m
    }

    /// Records that `item` starts at visible index `index`.
    func remember(_ item: Item, index: Int) {
        if let i = markers.firstIndex(where: { $0.item === item }) {
            markers[i].index = index
            return
        }
        item.marker = true
        if markers.count < Branch.maxMarkers {
            markers.append(SearchMarker(item: item, index: index))
        } else {
            // Replace the marker farthest from this one: keeps markers spread out.
            var far = 0
            var farDistance = -1
            for (i, m) in markers.enumerated() where abs(m.index - index) > farDistance {
                far = i
                farDistance = abs(m.index - index)
            }
            let old = markers[far].item
            markers[far] = SearchMarker(item: item, index: index)
            if !markers.contains(where: { $0.item === old }) { old.marker = false }
        }
    }

    /// Shifts markers after a local insert (`delta` > 0) or delete (`delta` < 0) at `index`.
    func updateMarkers(index: Int, delta: Int) {
        guard !markers.isEmpty else { return }
        if delta > 0 {
            markers.removeAll {
                if $0.index == index && !$0.item.isVisible {
                    $0.item.marker = false
                    return true
                }
                return false
            }
            for i in markers.indices where markers[i].index >= index { markers[i].index += delta }
        } else {
            for i in markers.indices where markers[i].index > index {
                markers[i].index = max(index, markers[i].index + delta)
            }
        }
    }

    /// Keeps markers valid when `right` is merged into `left`.
    func markerMerged(left: Item, right: Item) {
        guard right.marker else { return }
        let leftWasMarker = left.marker && markers.contains(where: { $0.item === left })
        if let i = markers.firstIndex(where: { $0.item === right }) {
            if leftWasMarker {
                markers.remove(at: i)
            } else {
                markers[i].item = left
                if left.isVisible { markers[i].index -= left.length }
            }
        }
        right.marker = false
        left.marker = true
    }
}
