/// Whether `units` holds a UTF-16 surrogate (half of a character outside the
/// Basic Multilingual Plane), which makes a text's offsets need care.
func containsSurrogate<Units: Collection<UInt16>>(_ units: Units) -> Bool {
    if let found = units.withContiguousStorageIfAvailable(containsSurrogate) { return found }
    return units.contains { $0 & 0xF800 == 0xD800 }
}

/// Sixteen units per comparison: a joiner integrating a 2 MB text spent an
/// eighth of its time in the unit-by-unit search, which the compiler does not
/// vectorize (it stops at the first surrogate).
func containsSurrogate(_ p: UnsafeBufferPointer<UInt16>) -> Bool {
    guard let base = p.baseAddress else { return false }
    let raw = UnsafeRawPointer(base)
    let mask = SIMD16<UInt16>(repeating: 0xF800), surrogate = SIMD16<UInt16>(repeating: 0xD800)
    var i = 0
    while i + 16 <= p.count {
        let block = raw.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt16>.self)
        if any(block & mask .== surrogate) { return true }
        i += 16
    }
    while i < p.count {
        if p[i] & 0xF800 == 0xD800 { return true }
        i += 1
    }
    return false
}
